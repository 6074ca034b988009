//! The outbox relay: publishes outbox rows in id order through the event bus,
//! and marks them published only once the bus has them. The loop is shared;
//! reading and marking the outbox is each backend's [`OutboxSource`]
//! (`pg::relay_source`, `sqlite::relay_source`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{EventBus, Outgoing};
use crate::backoff::Backoff;
use crate::events::{Envelope, Stored};
use crate::persistence::pg::relay_source::PgOutbox;
use crate::persistence::sqlite::Sqlite;
use crate::persistence::sqlite::relay_source::SqliteOutbox;

/// Rows published per batch.
pub const BATCH: usize = 200;
/// How often the backlog gauges are refreshed: a query per batch would cost
/// the busy relay a round trip each time for a figure scraped every few seconds.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// One unpublished outbox row.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: Uuid,
    pub event_type: String,
    /// The event's `data`, as stored.
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub request_id: Option<String>,
}

impl Pending {
    /// The event as consumers receive it: the stored `data` moved unread into its envelope.
    fn outgoing(&self) -> serde_json::Result<Outgoing> {
        let body = Envelope {
            id: self.id,
            event: Stored { kind: &self.event_type, data: &self.payload },
            created_at: self.created_at,
        }
        .to_bytes()?;
        Ok(Outgoing {
            id: self.id,
            routing_key: self.event_type.clone(),
            body,
            created_at: self.created_at,
            request_id: self.request_id.clone(),
        })
    }
}

/// Publishes `rows`, in order, through `bus`: what every source does between
/// loading its rows and marking them.
///
/// # Errors
/// When an event cannot be encoded or the bus does not take the batch; the
/// source then leaves every row unpublished.
pub async fn hand_over(bus: &dyn EventBus, rows: &[Pending]) -> anyhow::Result<()> {
    let events = rows.iter().map(Pending::outgoing).collect::<serde_json::Result<Vec<_>>>()?;
    bus.publish(&events).await
}

/// What waits in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub rows: i64,
    pub oldest: Option<DateTime<Utc>>,
}

/// Where a relay reads the outbox from.
#[async_trait::async_trait]
pub trait OutboxSource: Send + Sync {
    /// Returns once this process is the one that publishes (waiting while
    /// another holds that role), or fails if `bus` goes down meanwhile.
    async fn lead(&self, bus: &dyn EventBus) -> anyhow::Result<Box<dyn Leading>>;
}

/// The publisher role, held until this is dropped.
#[async_trait::async_trait]
pub trait Leading: Send {
    /// Publishes up to `limit` unpublished rows in id order through `bus`
    /// ([`hand_over`]) and marks them; on an error none of them is marked, so
    /// delivery is at least once (consumers de-duplicate by event id).
    /// Returns the rows published.
    async fn publish_batch(&mut self, bus: &dyn EventBus, limit: usize) -> anyhow::Result<Vec<Pending>>;

    async fn backlog(&mut self) -> anyhow::Result<Backlog>;

    /// Waits until rows may have been written: `wake` fired, `poll_every`
    /// passed, or (PostgreSQL) another process announced a commit.
    async fn wait(&mut self, wake: &Notify, poll_every: Duration) -> anyhow::Result<()>;
}

/// Moves outbox rows to the event bus. One relay per process; where several
/// processes share a database only one publishes at a time (see the source),
/// so events leave in commit order.
pub struct Relay {
    source: Box<dyn OutboxSource>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    /// How often it looks for rows when nobody woke it (rows left by a crash,
    /// a notification lost with a connection): `OUTBOX_POLL_MS`.
    poll_every: Duration,
}

impl Relay {
    #[must_use]
    pub fn new(source: Box<dyn OutboxSource>, bus: Arc<dyn EventBus>, wake: Arc<Notify>, poll_every: Duration) -> Self {
        Self { source, bus, wake, poll_every }
    }

    /// The relay of the served family: the PostgreSQL outbox at
    /// `database_url`; of several instances, the holder of an advisory lock publishes.
    #[must_use]
    pub fn postgres(database_url: String, bus: Arc<dyn EventBus>, wake: Arc<Notify>, poll_every: Duration) -> Self {
        Self::new(Box::new(PgOutbox::new(database_url)), bus, wake, poll_every)
    }

    /// The relay of the embedded family: the SQLite outbox of `db`.
    #[must_use]
    pub fn sqlite(db: Sqlite, bus: Arc<dyn EventBus>, wake: Arc<Notify>, poll_every: Duration) -> Self {
        Self::new(Box::new(SqliteOutbox::new(db)), bus, wake, poll_every)
    }

    /// Runs until the process ends. Never fails: every error is logged and retried.
    pub async fn run(self) {
        let mut backoff = Backoff::default();
        loop {
            if let Err(e) = self.lead(&mut backoff).await {
                let pause = backoff.next_pause();
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = pause.as_millis() as u64,
                    "outbox relay interrupted"
                );
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Waits for the bus, then takes the publisher role, then publishes until
    /// an error. The bus comes first so that a process that cannot reach it
    /// never holds the role while one that can stands by.
    async fn lead(&self, backoff: &mut Backoff) -> anyhow::Result<()> {
        let bus = self.bus.as_ref();
        bus.ready().await;
        let mut leading = self.source.lead(bus).await?;
        tracing::info!("outbox relay is the publisher");
        let mut last_recorded: Option<Instant> = None;
        loop {
            let published = leading.publish_batch(bus, BATCH).await?;
            backoff.reset();
            for row in &published {
                metrics::counter!("events_published_total", "type" => row.event_type.clone()).increment(1);
            }
            if !published.is_empty() {
                tracing::debug!(count = published.len(), "published outbox rows");
            }
            if last_recorded.is_none_or(|at| at.elapsed() >= RECORD_EVERY) {
                record(leading.backlog().await?);
                last_recorded = Some(Instant::now());
            }
            if published.len() < BATCH {
                leading.wait(&self.wake, self.poll_every).await?;
            }
        }
    }
}

/// Gauges of what waits in the outbox: how many rows, and how old the oldest is.
fn record(backlog: Backlog) {
    metrics::gauge!("outbox_backlog").set(backlog.rows as f64);
    let lag = backlog.oldest.map_or(0.0, |at| (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
    metrics::gauge!("relay_lag_seconds").set(lag);
}
