//! Use cases of the social network and the ports they need.
//!
//! Ports are `#[async_trait]` traits implemented by `infrastructure`; use cases
//! orchestrate the domain through them and never name a framework or a status code.

pub mod admin;
pub mod auth;
pub mod error;
pub mod follow;
pub mod notification;
pub mod paging;
pub mod ports;
pub mod post;
pub mod user;
pub mod webhook;

#[cfg(test)]
pub(crate) mod testing;

pub use error::{ApplicationError, AuthFailure, Conflict, PortError};
