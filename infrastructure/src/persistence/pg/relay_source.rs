//! The relay's view of the PostgreSQL outbox. Several api instances share
//! the database: only the holder of an advisory lock publishes, so events
//! leave in commit order, and a standby takes over within
//! [`LOCK_RETRY_EVERY`] when the holder dies.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Bool};
use diesel::{ExpressionMethods, QueryDsl, Queryable};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

use super::schema::outbox;
use crate::messaging::EventBus;
use crate::messaging::relay::{Backlog, Leading, OutboxSource, Pending, hand_over};

/// How often a standby relay tries to take the lock: the bound on a fail-over.
const LOCK_RETRY_EVERY: Duration = Duration::from_secs(1);
/// The channel on which every commit of outbox rows is announced (a trigger).
const CHANNEL: &str = "outbox_written";
/// Any constant shared by every api instance: the key of the relay's advisory lock.
const RELAY_LOCK: i64 = 0x0053_4f43_4941_4c31;

/// The PostgreSQL outbox at a database URL.
pub struct PgOutbox {
    database_url: String,
}

impl PgOutbox {
    #[must_use]
    pub const fn new(database_url: String) -> Self {
        Self { database_url }
    }
}

#[derive(Queryable)]
struct Row {
    id: Uuid,
    event_type: String,
    payload: Value,
    created_at: DateTime<Utc>,
    request_id: Option<String>,
}

#[async_trait::async_trait]
impl OutboxSource for PgOutbox {
    /// Takes the relay lock on a connection of its own, waiting while another
    /// instance holds it, then listens for commits.
    async fn lead(&self, bus: &dyn EventBus) -> anyhow::Result<Box<dyn Leading>> {
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
            if !bus.is_up() {
                anyhow::bail!("the event bus went down while standing by");
            }
            tokio::time::sleep(LOCK_RETRY_EVERY).await;
        }
        // Commits on other instances announce themselves here.
        diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut db).await?;
        // Marking rows published need not wait for the disk: if the server
        // crashes before the mark is flushed, the rows are published again,
        // which consumers already expect (delivery is at least once, and they
        // drop an event id they have seen). The post's own commit still waits.
        // The batch query is planned at each run: a plan kept from when the
        // outbox was empty (a sequential scan and a sort) would stay in use
        // while published rows pile up, until the table is next analyzed;
        // planned afresh, it sees the table's size and reads the index of
        // unpublished rows.
        db.batch_execute("SET synchronous_commit = off; SET plan_cache_mode = force_custom_plan").await?;
        Ok(Box::new(PgLeading { db }))
    }
}

/// The lock holder's connection: dropping it releases the lock.
struct PgLeading {
    db: AsyncPgConnection,
}

#[async_trait::async_trait]
impl Leading for PgLeading {
    /// Loads, publishes and marks in one transaction, the rows locked
    /// (`FOR UPDATE SKIP LOCKED`), so that even two relays that both believed
    /// they held the lock would never publish the same row twice at once.
    async fn publish_batch(&mut self, bus: &dyn EventBus, limit: usize) -> anyhow::Result<Vec<Pending>> {
        self.db
            .transaction(async |db| {
                let rows: Vec<Row> = outbox::table
                    .filter(outbox::published_at.is_null())
                    .order(outbox::id)
                    .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                    .for_update()
                    .skip_locked()
                    .select((outbox::id, outbox::event_type, outbox::payload, outbox::created_at, outbox::request_id))
                    .load(db)
                    .await?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let rows: Vec<Pending> = rows
                    .into_iter()
                    .map(|row| Pending {
                        id: row.id,
                        event_type: row.event_type,
                        payload: row.payload,
                        created_at: row.created_at,
                        request_id: row.request_id,
                    })
                    .collect();
                hand_over(bus, &rows).await?;
                let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
                diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
                    .set(outbox::published_at.eq(Utc::now()))
                    .execute(db)
                    .await?;
                Ok(rows)
            })
            .await
    }

    async fn backlog(&mut self) -> anyhow::Result<Backlog> {
        let (rows, oldest): (i64, Option<DateTime<Utc>>) = outbox::table
            .filter(outbox::published_at.is_null())
            .select((diesel::dsl::count_star(), diesel::dsl::min(outbox::created_at)))
            .first(&mut self.db)
            .await?;
        Ok(Backlog { rows, oldest })
    }

    async fn wait(&mut self, wake: &Notify, poll_every: Duration) -> anyhow::Result<()> {
        let mut announced = std::pin::pin!(self.db.notifications_stream());
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(poll_every) => {}
            Some(note) = announced.next() => {
                note?;
            }
        }
        // One batch covers every commit announced so far.
        while let Some(Some(note)) = announced.next().now_or_never() {
            note?;
        }
        Ok(())
    }
}
