//! Posts, search and the home timeline.

pub mod ports;
mod service;

pub use service::{IDEMPOTENCY_WINDOW, PostService, Published};

#[cfg(test)]
mod tests;
