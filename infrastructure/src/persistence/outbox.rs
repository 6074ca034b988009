//! The transactional outbox: events are rows written by the same transaction
//! as the change they describe. This module turns events into rows; each
//! backend inserts them on its own connection (`pg::outbox`, `sqlite::outbox`).
//! Nothing here talks to a broker.

use chrono::{DateTime, Utc};
use domain::Envelope;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

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

/// One outbox row, ready to insert.
pub struct OutboxRow {
    pub id: Uuid,
    pub event_type: &'static str,
    /// The event's `data`, as clients will receive it.
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// The id of the request that caused the event, if any (for tracing).
    pub request_id: Option<String>,
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

    /// The row of an event that has no domain meaning (`auth.revoked`, `user.deleted`).
    ///
    /// # Errors
    /// When the event cannot be serialized; the caller's transaction then rolls back.
    pub fn system_row(&self, event: &EventData) -> diesel::QueryResult<OutboxRow> {
        row(Uuid::now_v7(), event, Utc::now())
    }

    /// The rows of `envelopes`, stamped with the current request's id.
    ///
    /// # Errors
    /// When an event cannot be serialized; the caller's transaction then rolls back.
    pub fn rows(&self, envelopes: &[Envelope]) -> diesel::QueryResult<Vec<OutboxRow>> {
        envelopes
            .iter()
            .map(|envelope| {
                row(envelope.id, &EventData::from_domain(&envelope.event, &self.urls), envelope.occurred_at)
            })
            .collect()
    }
}

fn row(id: Uuid, event: &EventData, created_at: DateTime<Utc>) -> diesel::QueryResult<OutboxRow> {
    Ok(OutboxRow {
        id,
        event_type: event.type_name(),
        payload: event.data_json().map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
        created_at,
        request_id: crate::telemetry::current_request_id(),
    })
}
