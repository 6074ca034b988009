//! Registration, sign-in, token refresh with rotation, and sign-out.

pub mod ports;
mod service;

pub use service::{AuthService, RegisterCommand, Tokens};

#[cfg(test)]
mod tests;
