//! Activity noted in memory and flushed in batches, and the admin counts, on SQLite.

use application::PortError;
use application::ports::{ActivityLog, Counts, StatsRepository};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Binary, Date};
use diesel::{AggregateExpressionMethods, ExpressionMethods, QueryDsl, RunQueryDsl};
use domain::UserId;
use shaku::Component;
use std::sync::Arc;

use super::Sqlite;
use super::schema::{follows, posts, user_activity, users};
use super::types::{Id, Instant};
use crate::persistence::activity::{ActivityTable, Pending, start_flush};
use crate::persistence::count;

/// The pending activity and where it goes.
pub struct Shared {
    db: Sqlite,
    pending: Pending,
}

#[async_trait]
impl ActivityTable for Shared {
    /// One write transaction, one statement per user (SQLite runs them in
    /// process, with no round trip each); users deleted meanwhile are skipped
    /// by the join.
    async fn flush(&self) -> Result<(), PortError> {
        let pending = self.pending.take();
        if pending.is_empty() {
            return Ok(());
        }
        self.db
            .write("flushing activity", move |conn| {
                for (user, at) in pending {
                    diesel::sql_query(
                        "INSERT INTO user_activity (user_id, day, last_seen_at)
                         SELECT id, ?, ? FROM users WHERE id = ?
                         ON CONFLICT (user_id, day)
                         DO UPDATE SET last_seen_at = max(last_seen_at, excluded.last_seen_at)",
                    )
                    .bind::<Date, _>(at.date_naive())
                    .bind::<BigInt, _>(Instant(at))
                    .bind::<Binary, _>(Id(user))
                    .execute(conn)?;
                }
                Ok(())
            })
            .await
    }
}

/// Notes authenticated activity in memory (no I/O per request) and writes it
/// every 30 s; counts for the admin statistics, flushing first.
#[derive(Component, Clone)]
#[shaku(interface = crate::di::ActivityLogPort)]
pub struct SqliteActivity {
    shared: Arc<Shared>,
}

impl SqliteActivity {
    /// Starts the flush task (it ends when the last handle is dropped).
    #[must_use]
    pub fn start(db: Sqlite) -> Self {
        let shared = Arc::new(Shared { db, pending: Pending::default() });
        start_flush(&shared);
        Self { shared }
    }
}

impl ActivityLog for SqliteActivity {
    fn record(&self, user: UserId, at: DateTime<Utc>) {
        self.shared.pending.record(user, at);
    }
}

/// The statistics adapter: shares the activity's pending set to flush it first.
#[derive(Component)]
#[shaku(interface = crate::di::StatsRepositoryPort)]
pub struct SqliteStats {
    activity: SqliteActivity,
}

impl SqliteStats {
    #[must_use]
    pub const fn new(activity: SqliteActivity) -> Self {
        Self { activity }
    }
}

#[async_trait]
impl StatsRepository for SqliteStats {
    async fn counts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Counts, PortError> {
        self.activity.shared.flush().await?;
        let (from_day, from, to) = (from.date_naive(), Instant(from), Instant(to));
        let (active, new_users, posted, followed): (i64, i64, i64, i64) = self
            .activity
            .shared
            .db
            .read("counting activity", move |conn| {
                let active = user_activity::table
                    .filter(user_activity::day.ge(from_day))
                    .filter(user_activity::last_seen_at.between(from, to))
                    .select(diesel::dsl::count(user_activity::user_id).aggregate_distinct())
                    .first(conn)?;
                let new_users = users::table.filter(users::created_at.between(from, to)).count().get_result(conn)?;
                let posted = posts::table.filter(posts::created_at.between(from, to)).count().get_result(conn)?;
                let followed = follows::table.filter(follows::created_at.between(from, to)).count().get_result(conn)?;
                Ok((active, new_users, posted, followed))
            })
            .await?;
        Ok(Counts {
            active_users: count(active),
            new_users: count(new_users),
            posts: count(posted),
            follows: count(followed),
        })
    }
}
