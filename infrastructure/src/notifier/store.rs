//! What the notifier reads from the database, whichever the backend.

use application::PortError;
use async_trait::async_trait;
use domain::{Notification, Post, UserId};
use uuid::Uuid;

/// Whom a user follows (once per connection) and what they missed (once per
/// reconnection with `since`).
#[async_trait]
pub trait NotifierStore: Send + Sync {
    /// Whom `user` follows.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn followees(&self, user: UserId) -> Result<Vec<UserId>, PortError>;

    /// Posts by users `user` follows with an id above `since`, oldest first, at most `max`.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn posts_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Post>, PortError>;

    /// `user`'s notifications with an id above `since`, oldest first, at most `max`.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn notifications_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Notification>, PortError>;
}
