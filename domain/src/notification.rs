//! Notifications: someone followed you, or mentioned you in a post.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::post::{Author, Post};
use crate::user::UserId;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationKind {
    Follow,
    /// Carries the post that mentions the recipient.
    Mention(Box<Post>),
}

impl NotificationKind {
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Follow => "follow",
            Self::Mention(_) => "mention",
        }
    }
}

/// A notification for `recipient`. Ids are UUIDv7 and order the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub recipient: UserId,
    pub actor: Author,
    pub kind: NotificationKind,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}
