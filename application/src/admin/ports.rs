//! What the statistics need: where activity is noted and counted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::UserId;

use crate::PortError;

/// Notes authenticated activity.
pub trait ActivityLog: Send + Sync {
    /// Notes that `user` made an authenticated request at `at`. Called on every
    /// authenticated request: MUST NOT wait on I/O.
    fn record(&self, user: UserId, at: DateTime<Utc>);
}

/// What happened in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub active_users: u64,
    pub new_users: u64,
    pub posts: u64,
    pub follows: u64,
}

/// Counts over stored data.
#[async_trait]
pub trait StatsRepository: Send + Sync {
    /// Users active, users created, posts and follows made between `from` and `to`.
    /// Activity noted but not yet stored MUST be included.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn counts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Counts, PortError>;
}
