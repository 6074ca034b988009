//! What the follow use cases need from persistence.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Envelope, Follow, Notification, UserId};

use crate::PortError;
use crate::paging::{Page, PageRequest};
use crate::ports::Profile;

/// A new follow with what it writes when it is new: its notification, unless
/// the follower already notified the followee recently.
#[derive(Debug, Clone)]
pub struct NewFollow {
    pub follow: Follow,
    pub created_at: DateTime<Utc>,
    pub notification: Option<Notification>,
    pub events: Vec<Envelope>,
}

/// A profile in a follower list, with the follow's id as its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowEntry {
    pub follow_id: uuid::Uuid,
    pub profile: Profile,
}

/// Storage of follows.
#[async_trait]
pub trait FollowRepository: Send + Sync {
    /// Stores the follow with its notification and events in one transaction;
    /// `false`, with nothing written, when it already exists.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn follow(&self, new: NewFollow) -> Result<bool, PortError>;

    /// Whether the followee of `follow` got a follow notification from its
    /// follower created at or after `since`.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn follow_notified_since(&self, follow: Follow, since: DateTime<Utc>) -> Result<bool, PortError>;

    /// Removes the follow and stores `event` in one transaction; `false`, with
    /// nothing written, when there was none.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn unfollow(&self, follow: Follow, event: domain::Envelope) -> Result<bool, PortError>;

    /// Who follows `user`, most recent follow first, as `viewer` sees them.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn followers(&self, user: UserId, viewer: UserId, page: PageRequest) -> Result<Page<FollowEntry>, PortError>;

    /// Whom `user` follows, most recent follow first, as `viewer` sees them.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn following(&self, user: UserId, viewer: UserId, page: PageRequest) -> Result<Page<FollowEntry>, PortError>;
}
