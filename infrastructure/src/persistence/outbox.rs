//! The transactional outbox: events are rows written by the same transaction
//! as the change they describe. Nothing here talks to a broker.

use chrono::{DateTime, Utc};
use diesel::ExpressionMethods;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{DomainEvent, Envelope};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

use super::schema::outbox;
use crate::wire::{NotificationView, PostView, PublicUrls};

/// Events that are not domain events: access revocations every instance must apply.
pub const AUTH_REVOKED: &str = "auth.revoked";
pub const USER_DELETED: &str = "user.deleted";

/// Turns domain events into outbox rows. The payload is the event's `data` as
/// clients will receive it, so the relay and the notifier never query for it.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    urls: PublicUrls,
    /// Wakes the relay after a commit that wrote rows.
    wake: Arc<Notify>,
}

impl Outbox {
    #[must_use]
    pub const fn new(urls: PublicUrls, wake: Arc<Notify>) -> Self {
        Self { urls, wake }
    }

    /// Call after the transaction that appended rows has committed.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// Appends one event that has no domain meaning (`auth.revoked`, `user.deleted`).
    ///
    /// # Errors
    /// The database error; the caller's transaction then rolls back.
    pub async fn append_system(
        &self,
        conn: &mut AsyncPgConnection,
        event_type: &'static str,
        payload: Value,
    ) -> diesel::QueryResult<()> {
        insert(conn, vec![(Uuid::now_v7(), event_type, payload, Utc::now())]).await
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
        let rows =
            envelopes.iter().map(|e| (e.id, e.event.type_name(), self.payload(&e.event), e.occurred_at)).collect();
        insert(conn, rows).await
    }
}

/// Inserts rows stamped with the current request's id, if any.
async fn insert(
    conn: &mut AsyncPgConnection,
    rows: Vec<(Uuid, &'static str, Value, DateTime<Utc>)>,
) -> diesel::QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let request_id = crate::telemetry::current_request_id();
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(id, event_type, payload, created_at)| {
            (
                outbox::id.eq(id),
                outbox::event_type.eq(event_type),
                outbox::payload.eq(payload),
                outbox::created_at.eq(created_at),
                outbox::request_id.eq(request_id.clone()),
            )
        })
        .collect();
    diesel::insert_into(outbox::table).values(rows).execute(conn).await?;
    Ok(())
}
