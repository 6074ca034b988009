//! The outbox relay: publishes outbox rows in id order with publisher
//! confirms, and marks them published only once the broker has them.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Bool};
use diesel::{ExpressionMethods, QueryDsl, Queryable};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::{FutureExt, StreamExt};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

use super::Broker;
use crate::backoff::Backoff;
use crate::events::{Envelope, Stored};
use crate::persistence::schema::outbox;

/// Rows published per transaction.
const BATCH: i64 = 200;
/// How often a standby relay tries to take the lock: the bound on a fail-over.
const LOCK_RETRY_EVERY: Duration = Duration::from_secs(1);
/// The channel on which every commit of outbox rows is announced (a trigger).
const CHANNEL: &str = "outbox_written";
/// Any constant shared by every api instance: the key of the relay's advisory lock.
const RELAY_LOCK: i64 = 0x0053_4f43_4941_4c31;

#[derive(Queryable)]
struct Row {
    id: Uuid,
    event_type: String,
    payload: Value,
    created_at: DateTime<Utc>,
    request_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("connecting to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("encoding an event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker connection closed")]
    Disconnected,
    #[error("the broker refused event {0}")]
    Refused(Uuid),
}

/// Moves outbox rows to the broker. One relay per process; of several
/// processes only the holder of a PostgreSQL advisory lock publishes, so
/// events leave in commit order. The others stand by and take over if it dies.
pub struct Relay {
    database_url: String,
    broker: Broker,
    wake: Arc<Notify>,
    /// How often it looks for rows when nobody woke it (rows left by a crash,
    /// a notification lost with a connection): `OUTBOX_POLL_MS`.
    poll_every: Duration,
}

impl Relay {
    #[must_use]
    pub const fn new(database_url: String, broker: Broker, wake: Arc<Notify>, poll_every: Duration) -> Self {
        Self { database_url, broker, wake, poll_every }
    }

    /// Runs until the process ends. Never fails: every error is logged and retried.
    pub async fn run(self) {
        let mut backoff = Backoff::default();
        loop {
            match self.lead().await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    let pause = backoff.next_pause();
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "outbox relay interrupted");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// Connects to the broker, then takes the relay lock (waiting while
    /// another instance holds it), then publishes until an error. The broker
    /// comes first so that an instance that cannot reach it never holds the
    /// lock while one that can stands by.
    async fn lead(&self) -> Result<(), RelayError> {
        let (_connection, channel) = self.broker.connect("outbox relay").await;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        self.broker.mark(true);
        let mut db = AsyncPgConnection::establish(&self.database_url).await?;
        // The session lock lives as long as this connection: if this process
        // dies, PostgreSQL releases it and a standby takes over.
        loop {
            let locked: bool =
                diesel::select(sql::<Bool>("pg_try_advisory_lock(").bind::<BigInt, _>(RELAY_LOCK).sql(")"))
                    .get_result(&mut db)
                    .await?;
            if locked {
                break;
            }
            if !channel.status().connected() {
                return Err(RelayError::Disconnected);
            }
            tokio::time::sleep(LOCK_RETRY_EVERY).await;
        }
        tracing::info!("outbox relay is the publisher");
        // Commits on other instances announce themselves here.
        diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut db).await?;
        loop {
            let published = self.publish_batch(&mut db, &channel).await.inspect_err(|_| self.broker.mark(false))?;
            record_backlog(&mut db).await?;
            if published < BATCH as usize {
                let mut announced = std::pin::pin!(db.notifications_stream());
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.poll_every) => {}
                    Some(note) = announced.next() => {
                        note?;
                    }
                }
                // One batch covers every commit announced so far.
                while let Some(Some(note)) = announced.next().now_or_never() {
                    note?;
                }
            }
        }
    }

    /// Publishes up to one batch in id order and marks it, in one transaction:
    /// rows are marked only after every confirm, and a failure leaves all of
    /// them for the next attempt (so delivery is at least once; consumers
    /// de-duplicate by event id).
    async fn publish_batch(&self, db: &mut AsyncPgConnection, channel: &Channel) -> Result<usize, RelayError> {
        db.transaction(async |db| {
            let rows: Vec<Row> = outbox::table
                .filter(outbox::published_at.is_null())
                .order(outbox::id)
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .select((outbox::id, outbox::event_type, outbox::payload, outbox::created_at, outbox::request_id))
                .load(db)
                .await?;
            if rows.is_empty() {
                return Ok(0);
            }
            let mut confirms = Vec::with_capacity(rows.len());
            for row in &rows {
                confirms.push((row.id, self.publish(channel, row).await?));
            }
            for (id, confirm) in confirms {
                if !confirm.await?.is_ack() {
                    return Err(RelayError::Refused(id));
                }
            }
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
                .set(outbox::published_at.eq(Utc::now()))
                .execute(db)
                .await?;
            tracing::debug!(count = ids.len(), "published outbox rows");
            for row in &rows {
                metrics::counter!("events_published_total", "type" => row.event_type.clone()).increment(1);
            }
            Ok(ids.len())
        })
        .await
    }

    async fn publish(&self, channel: &Channel, row: &Row) -> Result<lapin::PublisherConfirm, RelayError> {
        let body = Envelope {
            id: row.id,
            event: Stored { kind: &row.event_type, data: &row.payload },
            created_at: row.created_at,
        };
        let mut headers = BTreeMap::new();
        if let Some(request_id) = &row.request_id {
            headers.insert(ShortString::from("x-request-id"), AMQPValue::LongString(request_id.as_str().into()));
        }
        let properties = BasicProperties::default()
            .with_message_id(row.id.to_string().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_timestamp(u64::try_from(row.created_at.timestamp()).unwrap_or(0))
            .with_headers(FieldTable::from(headers));
        let bytes = body.to_bytes()?;
        Ok(channel
            .basic_publish(
                self.broker.exchange().into(),
                row.event_type.as_str().into(),
                BasicPublishOptions::default(),
                &bytes,
                properties,
            )
            .await?)
    }
}

/// Gauges of what waits in the outbox: how many rows, and how old the oldest is.
async fn record_backlog(db: &mut AsyncPgConnection) -> Result<(), RelayError> {
    let (backlog, oldest): (i64, Option<DateTime<Utc>>) = outbox::table
        .filter(outbox::published_at.is_null())
        .select((diesel::dsl::count_star(), diesel::dsl::min(outbox::created_at)))
        .first(db)
        .await?;
    metrics::gauge!("outbox_backlog").set(backlog as f64);
    let lag = oldest.map_or(0.0, |at| (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
    metrics::gauge!("relay_lag_seconds").set(lag);
    Ok(())
}
