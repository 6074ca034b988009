//! The signed-in user's account, public profiles, and user administration.

pub mod ports;
mod service;

pub use service::{AdminBootstrap, UserPorts, UserService};
pub(crate) use service::{account_gone, is_admin, require_admin};

#[cfg(test)]
mod tests;
