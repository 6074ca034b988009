//! The events as they travel: written to the outbox, published to RabbitMQ,
//! read by the notifier, the webhook pipeline and the revocation listeners.
//! One typed contract for all of them: a renamed field fails to compile
//! instead of failing at run time in another process.
//!
//! On the wire an event is `{"id", "type", "created_at", "data"}`; `type` is
//! also the routing key. What clients receive (WebSocket frames, webhook
//! bodies) has the same envelope with [`ClientEvent`] inside.

use chrono::{DateTime, Utc};
use domain::DomainEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::wire::{NotificationView, PostView, PublicUrls};

/// A follow, by its two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FollowData {
    pub follower_id: Uuid,
    pub followee_id: Uuid,
}

/// Every event published through the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data")]
pub enum EventData {
    #[serde(rename = "post.created")]
    PostCreated { post: PostView },
    #[serde(rename = "post.deleted")]
    PostDeleted { post_id: Uuid, author_id: Uuid },
    #[serde(rename = "follow.created")]
    FollowCreated(FollowData),
    #[serde(rename = "follow.deleted")]
    FollowDeleted(FollowData),
    #[serde(rename = "notification.created")]
    NotificationCreated { recipient_id: Uuid, notification: NotificationView },
    /// One access token stops working on every instance.
    #[serde(rename = "auth.revoked")]
    AuthRevoked { token_id: Uuid, expires_at: DateTime<Utc> },
    /// Every token of a deleted user stops working on every instance.
    #[serde(rename = "user.deleted")]
    UserDeleted { user_id: Uuid, expires_at: DateTime<Utc> },
}

/// Routing keys of the events that revoke access.
pub const AUTH_REVOKED: &str = "auth.revoked";
pub const USER_DELETED: &str = "user.deleted";

impl EventData {
    /// The data of a domain event, rendered once for every reader.
    #[must_use]
    pub fn from_domain(event: &DomainEvent, urls: &PublicUrls) -> Self {
        match event {
            DomainEvent::PostCreated(post) => Self::PostCreated { post: PostView::new(post, urls) },
            DomainEvent::PostDeleted { post_id, author_id } => {
                Self::PostDeleted { post_id: *post_id.as_uuid(), author_id: *author_id.as_uuid() }
            }
            DomainEvent::FollowCreated(follow) => Self::FollowCreated(FollowData::of(follow)),
            DomainEvent::FollowDeleted(follow) => Self::FollowDeleted(FollowData::of(follow)),
            DomainEvent::NotificationCreated(notification) => Self::NotificationCreated {
                recipient_id: *notification.recipient.as_uuid(),
                notification: NotificationView::new(notification, urls),
            },
        }
    }

    /// The event's `type`, also its routing key.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::PostCreated { .. } => "post.created",
            Self::PostDeleted { .. } => "post.deleted",
            Self::FollowCreated(_) => "follow.created",
            Self::FollowDeleted(_) => "follow.deleted",
            Self::NotificationCreated { .. } => "notification.created",
            Self::AuthRevoked { .. } => AUTH_REVOKED,
            Self::UserDeleted { .. } => USER_DELETED,
        }
    }

    /// The `data` member alone, as the outbox stores it beside its `type`.
    ///
    /// # Errors
    /// Only if serialization fails, which these types cannot make it do.
    pub fn data_json(&self) -> serde_json::Result<serde_json::Value> {
        let mut tagged = serde_json::to_value(self)?;
        Ok(tagged.get_mut("data").map(serde_json::Value::take).unwrap_or_default())
    }
}

impl FollowData {
    fn of(follow: &domain::Follow) -> Self {
        Self { follower_id: *follow.follower().as_uuid(), followee_id: *follow.followee().as_uuid() }
    }
}

/// What a client receives for an event meant for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data")]
pub enum ClientEvent {
    #[serde(rename = "post.created")]
    PostCreated { post: PostView },
    #[serde(rename = "post.deleted")]
    PostDeleted { post_id: Uuid, author_id: Uuid },
    #[serde(rename = "notification")]
    Notification { notification: NotificationView },
}

/// `{"id", "type", "created_at", "data"}` around `D`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope<D> {
    pub id: Uuid,
    #[serde(flatten)]
    pub event: D,
    #[serde(serialize_with = "crate::wire::rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T10:00:00.123Z")]
    pub created_at: DateTime<Utc>,
}

impl<D: Serialize> Envelope<D> {
    /// # Errors
    /// Only if serialization fails, which these types cannot make it do.
    pub fn to_bytes(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }
}

impl Envelope<EventData> {
    /// Reads a published event.
    ///
    /// # Errors
    /// When `bytes` is not an event of a known type with the fields it needs.
    pub fn parse(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }
}

/// An outbox row as the relay publishes it: its `type` and stored `data`,
/// which the outbox wrote from an [`EventData`]; the relay moves it unread.
#[derive(Debug, Serialize)]
pub struct Stored<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub data: &'a serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_reads_back_from_the_json_the_relay_publishes() {
        let id = Uuid::now_v7();
        let (follower_id, followee_id) = (Uuid::now_v7(), Uuid::now_v7());
        let published = json!({
            "id": id,
            "type": "follow.created",
            "created_at": "2026-11-22T10:00:00.123Z",
            "data": {"follower_id": follower_id, "followee_id": followee_id},
        });
        let event = Envelope::parse(&serde_json::to_vec(&published).unwrap()).unwrap();
        assert_eq!(event.id, id);
        assert_eq!(event.event, EventData::FollowCreated(FollowData { follower_id, followee_id }));
        assert_eq!(serde_json::to_value(&event).unwrap(), published);
    }

    #[test]
    fn the_stored_data_is_the_data_member_alone() {
        let event = EventData::PostDeleted { post_id: Uuid::nil(), author_id: Uuid::max() };
        let data = event.data_json().unwrap();
        assert_eq!(data, json!({"post_id": Uuid::nil(), "author_id": Uuid::max()}));
        assert_eq!(event.type_name(), "post.deleted");
        let published = Envelope {
            id: Uuid::nil(),
            event: Stored { kind: event.type_name(), data: &data },
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let read = Envelope::parse(&published.to_bytes().unwrap()).unwrap();
        assert_eq!(read.event, event, "what the relay publishes reads back as the event");
    }

    #[test]
    fn a_published_post_event_is_already_the_frame_a_client_receives() {
        // The notifier and the webhooks forward post events' bytes unchanged:
        // they must read as the client contract.
        let event = EventData::PostDeleted { post_id: Uuid::now_v7(), author_id: Uuid::now_v7() };
        let data = event.data_json().unwrap();
        let published = Envelope {
            id: Uuid::now_v7(),
            event: Stored { kind: event.type_name(), data: &data },
            created_at: Utc::now(),
        };
        let received: Envelope<ClientEvent> = serde_json::from_slice(&published.to_bytes().unwrap()).unwrap();
        let EventData::PostDeleted { post_id, author_id } = event else { unreachable!() };
        assert_eq!(received.event, ClientEvent::PostDeleted { post_id, author_id });
    }

    #[test]
    fn unknown_types_and_missing_fields_do_not_parse() {
        assert!(Envelope::parse(br#"{"id":"0193a0a0-0000-7000-8000-000000000000","type":"post.liked","created_at":"2026-11-22T10:00:00Z","data":{}}"#).is_err());
        assert!(Envelope::parse(br#"{"id":"0193a0a0-0000-7000-8000-000000000000","type":"post.deleted","created_at":"2026-11-22T10:00:00Z","data":{"post_id":"0193a0a0-0000-7000-8000-000000000000"}}"#).is_err());
    }
}
