//! The transactional outbox: events are rows written by the same transaction
//! as the change they describe. Nothing here talks to a broker.

use diesel::ExpressionMethods;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{DomainEvent, Envelope};
use serde_json::{Value, json};

use super::schema::outbox;
use crate::wire::{NotificationView, PostView, PublicUrls};

/// Turns domain events into outbox rows. The payload is the event's `data` as
/// clients will receive it, so the relay and the notifier never query for it.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    urls: PublicUrls,
}

impl Outbox {
    #[must_use]
    pub const fn new(urls: PublicUrls) -> Self {
        Self { urls }
    }

    #[must_use]
    pub fn payload(&self, event: &DomainEvent) -> Value {
        match event {
            DomainEvent::PostCreated(post) => json!({"post": PostView::new(post, &self.urls)}),
            DomainEvent::PostDeleted { post_id, author_id } => {
                json!({"post_id": post_id.as_uuid(), "author_id": author_id.as_uuid()})
            }
            DomainEvent::FollowCreated(follow) | DomainEvent::FollowDeleted(follow) => {
                json!({"follower_id": follow.follower().as_uuid(), "followee_id": follow.followee().as_uuid()})
            }
            DomainEvent::NotificationCreated(notification) => json!({
                "recipient_id": notification.recipient.as_uuid(),
                "notification": NotificationView::new(notification, &self.urls),
            }),
        }
    }

    /// Appends `envelopes` on `conn`, inside the caller's transaction.
    ///
    /// # Errors
    /// The database error; the caller's transaction then rolls back.
    pub async fn append(&self, conn: &mut AsyncPgConnection, envelopes: &[Envelope]) -> diesel::QueryResult<()> {
        if envelopes.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = envelopes
            .iter()
            .map(|e| {
                (
                    outbox::id.eq(e.id),
                    outbox::event_type.eq(e.event.type_name()),
                    outbox::payload.eq(self.payload(&e.event)),
                    outbox::created_at.eq(e.occurred_at),
                )
            })
            .collect();
        diesel::insert_into(outbox::table).values(rows).execute(conn).await?;
        Ok(())
    }
}
