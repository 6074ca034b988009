//! The signed-in user's account, public profiles, and user administration.

pub mod ports;
mod service;

pub(crate) use service::require_admin;
pub use service::{AdminBootstrap, UserPorts, UserService};

#[cfg(test)]
mod tests;
