//! The `ActivityLog` and `StatsRepository` contracts.

use application::ports::{ActivityLog, Counts, StatsRepository, UserRepository};
use chrono::{Duration, Utc};
use infrastructure::persistence::sqlite::{SqliteActivity, SqliteStats, SqliteUserRepository};
use infrastructure::persistence::{PgActivity, PgStats, PgUserRepository};
use std::sync::Arc;

use crate::accounts::{follow, new_user, post};
use crate::support::{Backend, backends};

fn adapters(backend: &Backend) -> (Arc<dyn ActivityLog>, Arc<dyn StatsRepository>, Arc<dyn UserRepository>) {
    match backend {
        Backend::Postgres(pool) => {
            let activity = PgActivity::start(pool.handle());
            (
                Arc::new(activity.clone()),
                Arc::new(PgStats::new(activity)),
                Arc::new(PgUserRepository::new(pool.handle())),
            )
        }
        Backend::Sqlite(db) => {
            let activity = SqliteActivity::start(db.clone());
            (
                Arc::new(activity.clone()),
                Arc::new(SqliteStats::new(activity)),
                Arc::new(SqliteUserRepository::new(db.clone())),
            )
        }
    }
}

#[tokio::test]
async fn counts_include_activity_not_yet_written_and_skip_deleted_users() {
    for backend in backends().await {
        let (activity, stats, users) = adapters(&backend);
        let now = Utc::now();
        let oda = users.insert(new_user("oda", None)).await.unwrap();
        let pim = users.insert(new_user("pim", None)).await.unwrap();
        let quin = users.insert(new_user("quin", None)).await.unwrap();
        follow(&backend, oda.id, pim.id).await;
        post(&backend, pim.id).await;

        activity.record(oda.id, now);
        activity.record(oda.id, now + Duration::seconds(1));
        activity.record(pim.id, now);
        activity.record(quin.id, now);
        users.delete(quin.id).await.unwrap();

        let (from, to) = (now - Duration::hours(1), now + Duration::hours(1));
        let counts = stats.counts(from, to).await.unwrap();
        assert_eq!(counts, Counts { active_users: 2, new_users: 2, posts: 1, follows: 1 }, "{}", backend.name());

        // Written once, counted once: a later look adds nothing, and a new
        // day of the same user is still one user.
        activity.record(pim.id, now + Duration::seconds(2));
        assert_eq!(stats.counts(from, to).await.unwrap(), counts, "{}", backend.name());
        // An earlier sighting written later keeps the latest one.
        activity.record(oda.id, now - Duration::minutes(30));
        let recent = stats.counts(now + Duration::milliseconds(500), to).await.unwrap();
        assert_eq!(recent.active_users, 2, "{}", backend.name());
        activity.record(pim.id, now + Duration::days(1));
        let two_days = stats.counts(from, now + Duration::days(2)).await.unwrap();
        assert_eq!(two_days.active_users, 2, "{}", backend.name());

        let before = stats.counts(now - Duration::days(3), now - Duration::days(2)).await.unwrap();
        assert_eq!(before, Counts::default(), "{}", backend.name());
        let after = stats.counts(now + Duration::hours(2), now + Duration::hours(3)).await.unwrap();
        assert_eq!(after, Counts::default(), "{}", backend.name());
    }
}
