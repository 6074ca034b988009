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
    let url = format!("{}/contract_{}", postgres_server()?, uuid::Uuid::now_v7().simple());
    Some(persistence::connect(&url, 4).await.expect("creating a PostgreSQL database"))
}

/// `TEST_DATABASE_URL` without a trailing slash: append `/<database>`.
pub fn postgres_server() -> Option<String> {
    required("TEST_DATABASE_URL", "the PostgreSQL family").map(|server| server.trim_end_matches('/').to_owned())
}

/// `TEST_AMQP_URL` (RabbitMQ, for the bus contract), or `None` when it is
/// unset outside CI; like `TEST_DATABASE_URL`, CI cannot skip it.
pub fn amqp() -> Option<String> {
    required("TEST_AMQP_URL", "the RabbitMQ bus")
}

fn required(variable: &str, what: &str) -> Option<String> {
    let Ok(value) = std::env::var(variable) else {
        assert!(std::env::var_os("CI").is_none(), "CI must set {variable}: {what} cannot be skipped");
        return None;
    };
    Some(value)
}

/// Every backend this run can test, each a fresh database.
pub async fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite(sqlite().await)];
    if let Some(pool) = postgres().await {
        backends.push(Backend::Postgres(pool));
    }
    backends
}
