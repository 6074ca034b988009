//! The relay's view of the SQLite outbox. The embedded family is one process
//! with one relay: no lock is needed to be the only publisher, and marking
//! goes through the single writer like every other write.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use std::time::Duration;
use tokio::sync::Notify;

use super::Sqlite;
use super::schema::outbox;
use super::types::{Id, Instant};
use crate::messaging::EventBus;
use crate::messaging::relay::{Backlog, Leading, OutboxSource, Pending, hand_over};

/// The SQLite outbox of the embedded database.
#[derive(Clone, Debug)]
pub struct SqliteOutbox {
    db: Sqlite,
}

impl SqliteOutbox {
    #[must_use]
    pub const fn new(db: Sqlite) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl OutboxSource for SqliteOutbox {
    /// At once: the process that opened the file is the only one writing it.
    async fn lead(&self, _bus: &dyn EventBus) -> anyhow::Result<Box<dyn Leading>> {
        Ok(Box::new(self.clone()))
    }
}

#[async_trait::async_trait]
impl Leading for SqliteOutbox {
    /// Loads on a reader, publishes, then marks on the writer: the writer is
    /// not held while the bus applies backpressure, since a consumer may need
    /// it (a dead letter is a write) before it takes the next event.
    async fn publish_batch(&mut self, bus: &dyn EventBus, limit: usize) -> anyhow::Result<Vec<Pending>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.db.read("loading unpublished outbox rows", move |conn| unpublished(conn, limit)).await?;
        if rows.is_empty() {
            return Ok(rows);
        }
        hand_over(bus, &rows).await?;
        let ids: Vec<Id> = rows.iter().map(|row| Id(row.id)).collect();
        self.db
            .write("marking outbox rows published", move |conn| {
                diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
                    .set(outbox::published_at.eq(Instant(Utc::now())))
                    .execute(conn)
            })
            .await?;
        Ok(rows)
    }

    async fn backlog(&mut self) -> anyhow::Result<Backlog> {
        let (rows, oldest) = self
            .db
            .read("measuring the outbox backlog", |conn| {
                outbox::table
                    .filter(outbox::published_at.is_null())
                    .select((diesel::dsl::count_star(), diesel::dsl::min(outbox::created_at)))
                    .first::<(i64, Option<i64>)>(conn)
            })
            .await?;
        Ok(Backlog { rows, oldest: oldest.and_then(DateTime::<Utc>::from_timestamp_micros) })
    }

    /// Woken by [`crate::persistence::outbox::Outbox::committed`] in this
    /// process, which is the only one writing the file.
    async fn wait(&mut self, wake: &Notify, poll_every: Duration) -> anyhow::Result<()> {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(poll_every) => {}
        }
        Ok(())
    }
}

/// The oldest `limit` unpublished rows, in id (UUIDv7, so commit) order.
fn unpublished(conn: &mut diesel::SqliteConnection, limit: i64) -> diesel::QueryResult<Vec<Pending>> {
    let rows: Vec<(Id, String, String, Instant, Option<String>)> = outbox::table
        .filter(outbox::published_at.is_null())
        .order(outbox::id)
        .limit(limit)
        .select((outbox::id, outbox::event_type, outbox::payload, outbox::created_at, outbox::request_id))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, event_type, payload, created_at, request_id)| {
            Ok(Pending {
                id: id.0,
                event_type,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?,
                created_at: created_at.0,
                request_id,
            })
        })
        .collect()
}
