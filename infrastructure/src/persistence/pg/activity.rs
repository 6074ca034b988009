//! Activity noted in memory and flushed in batches, and the admin counts.

use application::PortError;
use application::ports::{ActivityLog, Counts, StatsRepository};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Timestamptz, Uuid as SqlUuid};
use diesel::{AggregateExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use domain::UserId;
use shaku::Component;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use uuid::Uuid;

use super::schema::{follows, posts, user_activity, users};
use super::{PgPool, checkout, failed};

/// How often noted activity is written.
const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// The pending activity and where it goes.
pub struct Shared {
    pool: PgPool,
    /// user -> latest request seen since the last flush.
    pending: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl Shared {
    fn take(&self) -> HashMap<Uuid, DateTime<Utc>> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Writes pending activity: one statement, whatever the number of users.
    /// Users deleted meanwhile are skipped by the join.
    async fn flush(&self) -> Result<(), PortError> {
        let pending = self.take();
        if pending.is_empty() {
            return Ok(());
        }
        let (ids, seen): (Vec<Uuid>, Vec<DateTime<Utc>>) = pending.into_iter().unzip();
        let mut conn = checkout(&self.pool).await?;
        diesel::sql_query(
            "INSERT INTO user_activity (user_id, day, last_seen_at)
             SELECT u.id, (d.at AT TIME ZONE 'UTC')::date, d.at
             FROM unnest($1, $2) AS d(id, at) JOIN users u ON u.id = d.id
             ON CONFLICT (user_id, day)
             DO UPDATE SET last_seen_at = GREATEST(user_activity.last_seen_at, excluded.last_seen_at)",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Timestamptz>, _>(seen)
        .execute(&mut conn)
        .await
        .map_err(failed("flushing activity"))?;
        Ok(())
    }
}

/// Notes authenticated activity in memory (no I/O per request) and writes it
/// every 30 s; counts for the admin statistics, flushing first.
#[derive(Component, Clone)]
#[shaku(interface = crate::di::ActivityLogPort)]
pub struct PgActivity {
    shared: Arc<Shared>,
}

impl PgActivity {
    /// Starts the flush task (it ends when the last handle is dropped).
    #[must_use]
    pub fn start(pool: PgPool) -> Self {
        let shared = Arc::new(Shared { pool, pending: Mutex::default() });
        tokio::spawn(flush_periodically(Arc::downgrade(&shared)));
        Self { shared }
    }
}

async fn flush_periodically(shared: Weak<Shared>) {
    let mut ticks = tokio::time::interval(FLUSH_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        if let Err(e) = shared.flush().await {
            tracing::warn!(error = %e, "could not flush activity");
        }
    }
}

impl ActivityLog for PgActivity {
    fn record(&self, user: UserId, at: DateTime<Utc>) {
        let mut pending = self.shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let latest = pending.entry(*user.as_uuid()).or_insert(at);
        *latest = (*latest).max(at);
    }
}

/// The statistics adapter: shares the activity's pending set to flush it first.
#[derive(Component)]
#[shaku(interface = crate::di::StatsRepositoryPort)]
pub struct PgStats {
    activity: PgActivity,
}

impl PgStats {
    #[must_use]
    pub const fn new(activity: PgActivity) -> Self {
        Self { activity }
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl StatsRepository for PgStats {
    async fn counts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Counts, PortError> {
        self.activity.shared.flush().await?;
        let mut conn = checkout(&self.activity.shared.pool).await?;
        let active: i64 = user_activity::table
            .filter(user_activity::day.ge(from.date_naive()))
            .filter(user_activity::last_seen_at.between(from, to))
            .select(diesel::dsl::count(user_activity::user_id).aggregate_distinct())
            .first(&mut conn)
            .await
            .map_err(failed("counting active users"))?;
        let new_users: i64 = users::table
            .filter(users::created_at.between(from, to))
            .count()
            .get_result(&mut conn)
            .await
            .map_err(failed("counting new users"))?;
        let posted: i64 = posts::table
            .filter(posts::created_at.between(from, to))
            .count()
            .get_result(&mut conn)
            .await
            .map_err(failed("counting posts"))?;
        let followed: i64 = follows::table
            .filter(follows::created_at.between(from, to))
            .count()
            .get_result(&mut conn)
            .await
            .map_err(failed("counting follows"))?;
        Ok(Counts {
            active_users: count(active),
            new_users: count(new_users),
            posts: count(posted),
            follows: count(followed),
        })
    }
}
