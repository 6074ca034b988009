//! The transactional outbox: events are rows written by the same transaction
//! as the change they describe. Nothing here talks to a broker.

use chrono::{DateTime, Utc};
use diesel::ExpressionMethods;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::Envelope;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

use super::schema::outbox;
use crate::events::EventData;
use crate::wire::PublicUrls;

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
    pub async fn append_system(&self, conn: &mut AsyncPgConnection, event: &EventData) -> diesel::QueryResult<()> {
        insert(conn, vec![(Uuid::now_v7(), event.type_name(), data_of(event)?, Utc::now())]).await
    }

    /// Appends `envelopes` on `conn`, inside the caller's transaction.
    ///
    /// # Errors
    /// The database error; the caller's transaction then rolls back.
    pub async fn append(&self, conn: &mut AsyncPgConnection, envelopes: &[Envelope]) -> diesel::QueryResult<()> {
        let mut rows = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let event = EventData::from_domain(&envelope.event, &self.urls);
            rows.push((envelope.id, event.type_name(), data_of(&event)?, envelope.occurred_at));
        }
        insert(conn, rows).await
    }
}

/// The payload column: the event's `data`, as clients will receive it, so the
/// relay and the consumers never query for it.
fn data_of(event: &EventData) -> diesel::QueryResult<Value> {
    event.data_json().map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
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
