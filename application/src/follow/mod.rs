//! Follows and follower lists.

pub mod ports;
mod service;

pub use service::FollowService;

#[cfg(test)]
mod tests;
