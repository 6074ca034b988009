//! Repositories on two backends with the same ports: PostgreSQL (`pg`, the
//! served family: several instances, one database) and SQLite (`sqlite`, the
//! embedded family: one process, one file, nothing installed).

mod activity;
mod attempts;
mod follows;
pub mod outbox;
pub mod pg;
pub(crate) mod rows;
pub(crate) mod secrets;
pub mod sqlite;
mod users;

pub use pg::{
    PgActivity, PgAttemptLimiter, PgFollowRepository, PgFollowRepositoryParameters, PgNotificationRepository,
    PgNotificationRepositoryParameters, PgNotifierStore, PgPool, PgPostRepository, PgPostRepositoryParameters,
    PgRefreshTokenStore, PgRefreshTokenStoreParameters, PgRevocationStore, PgStats, PgTicketStore,
    PgTicketStoreParameters, PgUserRepository, PgUserRepositoryParameters, PgWebhookRepository,
    PgWebhookRepositoryParameters, connect, is_ready, migrate, schema,
};

/// The database of one process, of either family.
#[derive(Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(sqlite::Sqlite),
}

impl Database {
    /// Whether it answers a trivial query (for readiness).
    pub async fn is_ready(&self) -> bool {
        match self {
            Self::Postgres(pool) => is_ready(pool).await,
            Self::Sqlite(db) => db.is_ready().await,
        }
    }
}

/// The smallest UUIDv7 of the millisecond `at`: `id >= this` selects rows
/// created from `at` on, as an index range scan on an id column.
pub(crate) fn first_id_at(at: chrono::DateTime<chrono::Utc>) -> uuid::Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// A stored count as the ports report it: unsigned.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    #[test]
    fn the_first_id_of_a_millisecond_sorts_before_every_id_made_in_it() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        let bound = first_id_at(at);
        assert_eq!(bound.get_version_num(), 7);
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, 1_795_305_600, 0);
        assert!(Uuid::new_v7(ts) >= bound);
        let earlier = uuid::Timestamp::from_unix(uuid::NoContext, 1_795_305_599, 999_000_000);
        assert!(Uuid::new_v7(earlier) < bound);
    }
}
