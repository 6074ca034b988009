//! Webhooks: where a user's events are POSTed.

pub mod ports;
mod service;

pub use service::{MAX_WEBHOOKS, WebhookService};

#[cfg(test)]
mod tests;
