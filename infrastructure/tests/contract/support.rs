//! The databases a contract runs against, each fresh for one test.

use infrastructure::persistence::sqlite::Sqlite;
use infrastructure::persistence::{self, PgPool};

/// One fresh database of one backend.
pub enum Backend {
    Postgres(PgPool),
    Sqlite(Sqlite),
}

impl Backend {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

/// A fresh SQLite file.
pub async fn sqlite() -> Sqlite {
    let path = std::env::temp_dir().join("social-contract").join(format!("{}.db", uuid::Uuid::now_v7().simple()));
    Sqlite::open(&path, 2).await.expect("opening a SQLite database")
}

/// A fresh PostgreSQL database on `TEST_DATABASE_URL`'s server, or `None`
/// when it is unset outside CI. In CI an unset URL fails the test: a family
/// that cannot run is a failure, not a skip.
pub async fn postgres() -> Option<PgPool> {
    let Ok(server) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set TEST_DATABASE_URL: the PostgreSQL family cannot be skipped"
        );
        return None;
    };
    let url = format!("{}/contract_{}", server.trim_end_matches('/'), uuid::Uuid::now_v7().simple());
    Some(persistence::connect(&url, 4).await.expect("creating a PostgreSQL database"))
}

/// Every backend this run can test, each a fresh database.
pub async fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite(sqlite().await)];
    if let Some(pool) = postgres().await {
        backends.push(Backend::Postgres(pool));
    }
    backends
}
