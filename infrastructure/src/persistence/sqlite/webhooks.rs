//! `WebhookRepository` on SQLite, the lookups of the delivery pipeline, and
//! the table of pending deliveries (`webhook_deliveries`) with its dead
//! letters: what RabbitMQ's webhook queues hold in the served family.

use application::PortError;
use application::ports::{Webhook, WebhookRepository};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Binary, Integer, Text};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, IntoSql, OptionalExtension, QueryDsl, RunQueryDsl, SqliteConnection,
};
use domain::UserId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Sqlite;
use super::schema::{dead_letters, follows, webhook_deliveries as jobs, webhooks};
use super::types::{Id, Instant};
use crate::persistence::secrets::random_token;
use crate::webhooks::{Expansion, WebhookTargets};

/// The `consumer` of webhook jobs in `dead_letters`.
pub const DEAD_LETTER_CONSUMER: &str = "webhooks";
/// The `routing_key` of webhook jobs in `dead_letters`. No consumer is bound
/// to it: a dead job is not an event, and only
/// [`replay_dead_letters`] may bring it back.
pub const DEAD_LETTER_ROUTING_KEY: &str = "webhook.delivery";

#[derive(Clone, Debug)]
pub struct SqliteWebhookRepository {
    db: Sqlite,
}

type Row = (Id, Id, String, String, Instant);

const COLUMNS: (webhooks::id, webhooks::user_id, webhooks::url, webhooks::secret, webhooks::created_at) =
    (webhooks::id, webhooks::user_id, webhooks::url, webhooks::secret, webhooks::created_at);

fn to_webhook((id, owner, url, secret, created_at): Row) -> Webhook {
    Webhook { id: id.0, owner: UserId::from_uuid(owner.0), url, secret, created_at: created_at.0 }
}

fn ids(rows: Vec<Id>) -> Vec<Uuid> {
    rows.into_iter().map(|id| id.0).collect()
}

impl SqliteWebhookRepository {
    #[must_use]
    pub const fn new(db: Sqlite) -> Self {
        Self { db }
    }
}

#[async_trait]
impl WebhookTargets for SqliteWebhookRepository {
    /// One query.
    async fn of_followers(&self, author: UserId) -> Result<Vec<Uuid>, PortError> {
        let author = Id(*author.as_uuid());
        let rows = self
            .db
            .read("finding followers' webhooks", move |conn| {
                let followers = follows::table.filter(follows::followee_id.eq(author)).select(follows::follower_id);
                webhooks::table.filter(webhooks::user_id.eq_any(followers)).select(webhooks::id).load::<Id>(conn)
            })
            .await?;
        Ok(ids(rows))
    }

    async fn of_user(&self, user: UserId) -> Result<Vec<Uuid>, PortError> {
        let user = Id(*user.as_uuid());
        let rows = self
            .db
            .read("finding a user's webhooks", move |conn| {
                webhooks::table.filter(webhooks::user_id.eq(user)).select(webhooks::id).load::<Id>(conn)
            })
            .await?;
        Ok(ids(rows))
    }

    async fn find(&self, id: Uuid) -> Result<Option<Webhook>, PortError> {
        let row = self
            .db
            .read("finding a webhook", move |conn| {
                webhooks::table.find(Id(id)).select(COLUMNS).first::<Row>(conn).optional()
            })
            .await?;
        Ok(row.map(to_webhook))
    }
}

#[async_trait]
impl WebhookRepository for SqliteWebhookRepository {
    #[tracing::instrument(skip_all, fields(user_id = %owner))]
    async fn create(
        &self,
        owner: UserId,
        url: &str,
        at: DateTime<Utc>,
        limit: usize,
    ) -> Result<Option<Webhook>, PortError> {
        // As stored (microseconds), as PostgreSQL's `RETURNING` gives it back.
        let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at);
        let webhook =
            Webhook { id: Uuid::now_v7(), owner, url: url.to_owned(), secret: random_token(), created_at: at };
        let row = (
            webhooks::id.eq(Id(webhook.id)),
            webhooks::user_id.eq(Id(*owner.as_uuid())),
            webhooks::url.eq(webhook.url.clone()),
            webhooks::secret.eq(webhook.secret.clone()),
            webhooks::created_at.eq(Instant(at)),
        );
        // The count and the insert share one write transaction, and every
        // write transaction of the process goes through the one writer
        // (`BEGIN IMMEDIATE`): concurrent registrations are counted one after
        // the other without the advisory lock PostgreSQL needs.
        let created = self
            .db
            .write("creating a webhook", move |conn| {
                let held: i64 =
                    webhooks::table.filter(webhooks::user_id.eq(Id(*owner.as_uuid()))).count().get_result(conn)?;
                if usize::try_from(held).unwrap_or(usize::MAX) >= limit {
                    return Ok(false);
                }
                diesel::insert_into(webhooks::table).values(row).execute(conn)?;
                Ok(true)
            })
            .await?;
        Ok(created.then_some(webhook))
    }

    async fn list(&self, owner: UserId) -> Result<Vec<Webhook>, PortError> {
        let owner = Id(*owner.as_uuid());
        let rows = self
            .db
            .read("listing webhooks", move |conn| {
                webhooks::table
                    .filter(webhooks::user_id.eq(owner))
                    .order(webhooks::id)
                    .select(COLUMNS)
                    .load::<Row>(conn)
            })
            .await?;
        Ok(rows.into_iter().map(to_webhook).collect())
    }

    async fn delete(&self, owner: UserId, id: Uuid) -> Result<bool, PortError> {
        let owner = Id(*owner.as_uuid());
        let deleted = self
            .db
            .write("deleting a webhook", move |conn| {
                diesel::delete(webhooks::table.filter(webhooks::id.eq(Id(id)).and(webhooks::user_id.eq(owner))))
                    .execute(conn)
            })
            .await?;
        Ok(deleted > 0)
    }
}

/// One pending delivery: a row of `webhook_deliveries`.
#[derive(Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    /// The attempt this job is waiting for, counted from 1.
    pub attempt: u32,
    pub due_at: DateTime<Utc>,
    /// Exactly what is POSTed.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("event_id", &self.event_id)
            .field("attempt", &self.attempt)
            .field("due_at", &self.due_at)
            .finish_non_exhaustive()
    }
}

type JobRow = (i64, Id, Id, String, i32, Instant, Vec<u8>);

const JOB_COLUMNS: (
    jobs::id,
    jobs::webhook_id,
    jobs::event_id,
    jobs::event_type,
    jobs::attempt,
    jobs::due_at,
    jobs::body,
) = (jobs::id, jobs::webhook_id, jobs::event_id, jobs::event_type, jobs::attempt, jobs::due_at, jobs::body);

fn to_job((id, webhook_id, event_id, event_type, attempt, due_at, body): JobRow) -> Job {
    Job {
        id,
        webhook_id: webhook_id.0,
        event_id: event_id.0,
        event_type,
        attempt: u32::try_from(attempt).unwrap_or(1).max(1),
        due_at: due_at.0,
        body,
    }
}

fn attempt_column(attempt: u32) -> i32 {
    i32::try_from(attempt).unwrap_or(i32::MAX)
}

/// A dead job as `dead_letters.body` holds it: what replay needs to make it
/// a job again.
#[derive(Serialize, Deserialize)]
struct DeadJob {
    webhook_id: Uuid,
    event_type: String,
    /// The POSTed body (always JSON text, hence UTF-8).
    body: String,
}

/// Inserts a job per target of `expansion`, due at `due_at`, in one
/// transaction. A job already pending for the same webhook and event (the
/// event was handled twice) is kept as it is. Returns how many were added.
///
/// # Errors
/// `PortError` when the write fails: then none was added.
pub async fn enqueue(db: &Sqlite, expansion: &Expansion, due_at: DateTime<Utc>) -> Result<usize, PortError> {
    if expansion.targets.is_empty() {
        return Ok(0);
    }
    let (targets, event_id, event_type, body) =
        (expansion.targets.clone(), expansion.event_id, expansion.event_type, expansion.body.clone());
    db.write("queueing webhook deliveries", move |conn| {
        insert_jobs(conn, &targets, event_id, event_type, due_at, &body)
    })
    .await
}

/// Targets per statement: well under SQLite's limit on bound values.
const TARGETS_PER_INSERT: usize = 500;

/// Adds, as attempt 1, a job for each of `targets` that still exists and has
/// none pending for `event_id`; how many were added. One statement per
/// [`TARGETS_PER_INSERT`] targets, the body bound once in each.
fn insert_jobs(
    conn: &mut SqliteConnection,
    targets: &[Uuid],
    event_id: Uuid,
    event_type: &str,
    due_at: DateTime<Utc>,
    body: &[u8],
) -> diesel::QueryResult<usize> {
    let mut added = 0;
    for chunk in targets.chunks(TARGETS_PER_INSERT) {
        let ids: Vec<Id> = chunk.iter().copied().map(Id).collect();
        // Selecting from `webhooks` skips a webhook deleted since the lookup
        // instead of failing the foreign key and with it the whole batch.
        let rows = webhooks::table.filter(webhooks::id.eq_any(ids)).select((
            webhooks::id,
            Id(event_id).into_sql::<Binary>(),
            event_type.to_owned().into_sql::<Text>(),
            1.into_sql::<Integer>(),
            Instant(due_at).into_sql::<BigInt>(),
            body.to_vec().into_sql::<Binary>(),
        ));
        added += diesel::insert_or_ignore_into(jobs::table)
            .values(rows)
            .into_columns((jobs::webhook_id, jobs::event_id, jobs::event_type, jobs::attempt, jobs::due_at, jobs::body))
            .execute(conn)?;
    }
    Ok(added)
}

/// Up to `limit` jobs due at `now`, the longest due first, leaving out `busy`
/// (jobs being delivered now).
///
/// # Errors
/// `PortError` when the read fails.
pub async fn due(db: &Sqlite, now: DateTime<Utc>, limit: usize, busy: Vec<i64>) -> Result<Vec<Job>, PortError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db
        .read("finding due webhook deliveries", move |conn| {
            jobs::table
                .filter(jobs::due_at.le(Instant(now)))
                .filter(jobs::id.ne_all(busy))
                .order((jobs::due_at, jobs::id))
                .limit(limit)
                .select(JOB_COLUMNS)
                .load::<JobRow>(conn)
        })
        .await?;
    Ok(rows.into_iter().map(to_job).collect())
}

/// When the next job not in `busy` is due, if any is pending.
///
/// # Errors
/// `PortError` when the read fails.
pub async fn next_due(db: &Sqlite, busy: Vec<i64>) -> Result<Option<DateTime<Utc>>, PortError> {
    let next = db
        .read("finding the next webhook delivery", move |conn| {
            jobs::table
                .filter(jobs::id.ne_all(busy))
                .select(diesel::dsl::min(jobs::due_at))
                .get_result::<Option<Instant>>(conn)
        })
        .await?;
    Ok(next.map(|at| at.0))
}

/// Every pending job, in due order (for inspection and tests).
///
/// # Errors
/// `PortError` when the read fails.
pub async fn pending(db: &Sqlite) -> Result<Vec<Job>, PortError> {
    let rows = db
        .read("listing webhook deliveries", |conn| {
            jobs::table.order((jobs::due_at, jobs::id)).select(JOB_COLUMNS).load::<JobRow>(conn)
        })
        .await?;
    Ok(rows.into_iter().map(to_job).collect())
}

/// Removes a job that is done with: delivered, or its webhook is gone.
///
/// # Errors
/// `PortError` when the write fails.
pub async fn finish(db: &Sqlite, job: i64) -> Result<(), PortError> {
    db.write("finishing a webhook delivery", move |conn| diesel::delete(jobs::table.find(job)).execute(conn))
        .await
        .map(drop)
}

/// Puts a job off until `due_at`, as attempt `attempt`.
///
/// # Errors
/// `PortError` when the write fails.
pub async fn reschedule(db: &Sqlite, job: i64, attempt: u32, due_at: DateTime<Utc>) -> Result<(), PortError> {
    db.write("rescheduling a webhook delivery", move |conn| {
        diesel::update(jobs::table.find(job))
            .set((jobs::attempt.eq(attempt_column(attempt)), jobs::due_at.eq(Instant(due_at))))
            .execute(conn)
    })
    .await
    .map(drop)
}

/// Moves a job whose attempts are spent to `dead_letters`, with `reason`.
///
/// # Errors
/// `PortError` when the write fails: the job is then still pending.
pub async fn bury(db: &Sqlite, job: &Job, reason: &str, at: DateTime<Utc>) -> Result<(), PortError> {
    let body = serde_json::to_vec(&DeadJob {
        webhook_id: job.webhook_id,
        event_type: job.event_type.clone(),
        body: String::from_utf8_lossy(&job.body).into_owned(),
    })
    .map_err(|e| PortError::Unknown(anyhow::Error::new(e).context("encoding a dead webhook job")))?;
    let row = (
        dead_letters::event_id.eq(Id(job.event_id)),
        dead_letters::routing_key.eq(DEAD_LETTER_ROUTING_KEY),
        dead_letters::consumer.eq(DEAD_LETTER_CONSUMER),
        dead_letters::body.eq(body),
        dead_letters::reason.eq(reason.to_owned()),
        dead_letters::attempts.eq(attempt_column(job.attempt)),
        dead_letters::failed_at.eq(Instant(at)),
    );
    let id = job.id;
    db.write("dead-lettering a webhook delivery", move |conn| {
        diesel::delete(jobs::table.find(id)).execute(conn)?;
        diesel::insert_into(dead_letters::table).values(row).execute(conn)
    })
    .await
    .map(drop)
}

/// A webhook job in `dead_letters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub attempts: u32,
    /// Why the last attempt failed, with the URL's secrets redacted.
    pub reason: String,
    pub body: Vec<u8>,
}

/// The webhook jobs in `dead_letters`, oldest first.
///
/// # Errors
/// `PortError` when the read fails.
pub async fn dead_letters(db: &Sqlite) -> Result<Vec<DeadLetter>, PortError> {
    let rows = db
        .read("listing dead webhook deliveries", |conn| {
            dead_letters::table
                .filter(dead_letters::consumer.eq(DEAD_LETTER_CONSUMER))
                .order(dead_letters::id)
                .select((dead_letters::event_id, dead_letters::attempts, dead_letters::reason, dead_letters::body))
                .load::<(Id, i32, String, Vec<u8>)>(conn)
        })
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(event_id, attempts, reason, body)| {
            let job: DeadJob = serde_json::from_slice(&body).ok()?;
            Some(DeadLetter {
                webhook_id: job.webhook_id,
                event_id: event_id.0,
                attempts: u32::try_from(attempts).unwrap_or(0),
                reason,
                body: job.body.into_bytes(),
            })
        })
        .collect())
}

/// `ctl dlq replay` for webhooks in the embedded family: moves every dead
/// webhook job back to `webhook_deliveries` as attempt 1, due at `now`, in
/// one transaction. A job whose webhook was deleted since is dropped (the
/// served replay republishes it and delivery then drops it); a row that is
/// not a webhook job stays where it is. Returns how many left `dead_letters`.
///
/// A running api finds the replayed jobs at its next poll (within a second);
/// this may run in another process (`ctl`) while the api runs.
///
/// # Errors
/// `PortError` when the database fails: then nothing moved.
pub async fn replay_dead_letters(db: &Sqlite, now: DateTime<Utc>) -> Result<usize, PortError> {
    db.write("replaying dead webhook deliveries", move |conn| {
        let dead = dead_letters::table
            .filter(dead_letters::consumer.eq(DEAD_LETTER_CONSUMER))
            .order(dead_letters::id)
            .select((dead_letters::id, dead_letters::event_id, dead_letters::body))
            .load::<(i64, Id, Vec<u8>)>(conn)?;
        let mut moved = 0;
        for (id, event_id, body) in dead {
            let Ok(job) = serde_json::from_slice::<DeadJob>(&body) else {
                tracing::warn!(dead_letter = id, "a webhook dead letter that is not a job: left in place");
                continue;
            };
            insert_jobs(conn, &[job.webhook_id], event_id.0, &job.event_type, now, job.body.as_bytes())?;
            diesel::delete(dead_letters::table.find(id)).execute(conn)?;
            moved += 1;
        }
        Ok(moved)
    })
    .await
}
