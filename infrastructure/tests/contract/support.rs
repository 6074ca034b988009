//! The databases a contract runs against, each fresh for one test.

use infrastructure::persistence::sqlite::Sqlite;
use infrastructure::persistence::{self, PgPool};

/// One fresh database of one backend.
pub enum Backend {
    Postgres(PgDatabase),
    Sqlite(Sqlite),
}

/// A fresh PostgreSQL database and a pool on it; the database is dropped
/// with this value (each test would otherwise leave its database behind).
pub struct PgDatabase {
    pool: PgPool,
    server: String,
    name: String,
}

impl PgDatabase {
    /// A handle on the pool, for an adapter to own.
    pub fn handle(&self) -> PgPool {
        self.pool.clone()
    }
}

impl std::ops::Deref for PgDatabase {
    type Target = PgPool;

    fn deref(&self) -> &PgPool {
        &self.pool
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime: the clean-up gets a thread and a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let (client, connection) =
                    tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
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
pub async fn postgres() -> Option<PgDatabase> {
    let server = postgres_server()?;
    let name = format!("contract_{}", uuid::Uuid::now_v7().simple());
    let pool = persistence::connect(&format!("{server}/{name}"), 4).await.expect("creating a PostgreSQL database");
    Some(PgDatabase { pool, server, name })
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
