//! Registration, sign-in, token refresh with rotation, and sign-out.

pub mod ports;
mod service;

pub use service::{AttemptLimits, AuthPorts, AuthService, RegisterCommand, TICKET_TTL, Tokens};

#[cfg(test)]
mod tests;
