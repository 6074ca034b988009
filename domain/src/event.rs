//! Domain events: what the rest of the system (fan-out, webhooks) learns of a change.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::follow::Follow;
use crate::notification::Notification;
use crate::post::{Post, PostId};
use crate::user::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    PostCreated(Post),
    PostDeleted { post_id: PostId, author_id: UserId },
    FollowCreated(Follow),
    FollowDeleted(Follow),
    NotificationCreated(Notification),
}

impl DomainEvent {
    /// The event's type name, also its routing key.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::PostCreated(_) => "post.created",
            Self::PostDeleted { .. } => "post.deleted",
            Self::FollowCreated(_) => "follow.created",
            Self::FollowDeleted(_) => "follow.deleted",
            Self::NotificationCreated(_) => "notification.created",
        }
    }
}

/// An event with its identity: UUIDv7, so one ordering spans events, posts and
/// notifications. A `post.created` event has its post's id and a
/// `notification.created` its notification's, so that a client catching up from
/// the database and from live events sees one id per thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event: DomainEvent,
}

impl Envelope {
    #[must_use]
    pub fn new(event: DomainEvent, occurred_at: DateTime<Utc>) -> Self {
        let id = match &event {
            DomainEvent::PostCreated(post) => *post.id.as_uuid(),
            DomainEvent::NotificationCreated(notification) => notification.id,
            _ => Uuid::now_v7(),
        };
        Self { id, occurred_at, event }
    }
}
