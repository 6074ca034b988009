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
use std::sync::Arc;
use uuid::Uuid;

use super::schema::{follows, posts, user_activity, users};
use super::{PgPool, checkout, failed};
use crate::persistence::activity::{ActivityTable, Pending, start_flush};
use crate::persistence::count;

/// The pending activity and where it goes.
pub struct Shared {
    pool: PgPool,
    pending: Pending,
}

#[async_trait]
impl ActivityTable for Shared {
    /// One statement, whatever the number of users; users deleted meanwhile
    /// are skipped by the join.
    async fn flush(&self) -> Result<(), PortError> {
        let pending = self.pending.take();
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
        let shared = Arc::new(Shared { pool, pending: Pending::default() });
        start_flush(&shared);
        Self { shared }
    }
}

impl ActivityLog for PgActivity {
    fn record(&self, user: UserId, at: DateTime<Utc>) {
        self.shared.pending.record(user, at);
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
