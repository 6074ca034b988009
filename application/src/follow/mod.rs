//! Follows and follower lists.

pub mod ports;
mod service;

pub use service::{FOLLOW_NOTICE_WINDOW, FollowService};

#[cfg(test)]
mod tests;
