//! SQLite through diesel (the embedded family): one file, one process,
//! nothing installed. Every statement runs on tokio's blocking pool through
//! diesel-async's `SyncConnectionWrapper`.
//!
//! Concurrency follows SQLite's own model: the database is in WAL mode, reads
//! go to a small pool of read-only connections and never wait for writes, and
//! every write transaction goes through the one writer connection, so writers
//! queue in this process instead of failing with `SQLITE_BUSY`.

mod activity;
mod attempts;
pub mod dead_letters;
pub mod outbox;
mod refresh_tokens;
pub mod relay_source;
mod revocations;
pub mod schema;
mod tickets;
pub mod types;
pub mod webhooks;

pub use webhooks::SqliteWebhookRepository;

// The content repositories (posts, follows, notifications, the notifier's reads).
mod follows;
mod notifications;
mod notifier_store;
mod posts;
mod search;
pub use follows::{SqliteFollowRepository, SqliteFollowRepositoryParameters};
pub use notifications::{SqliteNotificationRepository, SqliteNotificationRepositoryParameters};
pub use notifier_store::SqliteNotifierStore;
pub use posts::{SqlitePostRepository, SqlitePostRepositoryParameters};
mod users;

pub use activity::{SqliteActivity, SqliteStats};
pub use attempts::SqliteAttemptLimiter;
pub use refresh_tokens::{SqliteRefreshTokenStore, SqliteRefreshTokenStoreParameters};
pub use revocations::SqliteRevocationStore;
pub use tickets::{SqliteTicketStore, SqliteTicketStoreParameters};
pub use users::{SqliteUserRepository, SqliteUserRepositoryParameters};

use anyhow::Context;
use application::PortError;
use diesel::connection::SimpleConnection;
use diesel::result::QueryResult;
use diesel::{Connection, SqliteConnection};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::di::Repositories;
use crate::persistence::outbox::Outbox;

type Wrapped = SyncConnectionWrapper<SqliteConnection>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Every connection: enforce foreign keys (SQLite's default is not to), and
/// wait for a lock instead of failing at once (only another process, such as
/// the `sqlite3` shell, can hold one we do not queue for ourselves).
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";
/// The database file, once: write-ahead logging lets readers go on while one
/// writer commits; `NORMAL` syncs at checkpoints, which in WAL mode loses no
/// committed transaction on a process crash (only, at worst, on power loss).
const DATABASE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

/// The SQLite family: one repository per port, on `db`. `retention` is how
/// long failed logins and registrations are kept.
#[must_use]
pub fn repositories(db: &Sqlite, outbox: &Outbox, retention: chrono::Duration) -> Repositories {
    let activity = SqliteActivity::start(db.clone());
    Repositories {
        users: Box::new(SqliteUserRepository::new(db.clone())),
        refresh_tokens: Box::new(SqliteRefreshTokenStore::new(db.clone())),
        posts: Box::new(SqlitePostRepository::new(db.clone(), outbox.clone())),
        follows: Box::new(SqliteFollowRepository::new(db.clone(), outbox.clone())),
        notifications: Box::new(SqliteNotificationRepository::new(db.clone())),
        tickets: Box::new(SqliteTicketStore::new(db.clone())),
        activity: Box::new(activity.clone()),
        stats: Box::new(SqliteStats::new(activity)),
        attempts: Box::new(SqliteAttemptLimiter::start(db.clone(), retention)),
        webhooks: Box::new(SqliteWebhookRepository::new(db.clone())),
    }
}

/// How long a request waits for a connection before answering 503.
const CHECKOUT_PATIENCE: Duration = Duration::from_secs(2);

/// The embedded database: one writer, a pool of readers.
#[derive(Clone)]
pub struct Sqlite {
    shared: Arc<Shared>,
}

struct Shared {
    writer: tokio::sync::Mutex<Wrapped>,
    readers: Pool<Wrapped>,
    path: PathBuf,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

/// The file a `sqlite://<path>` URL names (`sqlite://./data/social.db`,
/// `sqlite:///var/lib/social.db`), or `None` for any other URL.
#[must_use]
pub fn path_of(url: &str) -> Option<&Path> {
    // `:memory:` would give every connection a database of its own.
    url.strip_prefix("sqlite://").filter(|path| !path.is_empty() && !path.starts_with(':')).map(Path::new)
}

impl Sqlite {
    /// Opens (creating it and its folder if needed) the database file,
    /// applies pending migrations, and prepares `readers` read connections.
    ///
    /// # Errors
    /// When the file cannot be created or opened, or a migration fails.
    pub async fn open(path: &Path, readers: usize) -> anyhow::Result<Self> {
        if let Some(folder) = path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        let url = path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))?.to_owned();
        let writer = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || open_writer(&url)).await.context("opening the database")??
        };
        let mut config = ManagerConfig::<Wrapped>::default();
        config.custom_setup = Box::new(|url| open_reader(url.to_owned()).boxed());
        let readers = Pool::builder(AsyncDieselConnectionManager::new_with_config(url, config))
            .max_size(readers.max(1))
            .wait_timeout(Some(CHECKOUT_PATIENCE))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .context("building the SQLite read pool")?;
        Ok(Self {
            shared: Arc::new(Shared {
                writer: tokio::sync::Mutex::new(SyncConnectionWrapper::new(writer)),
                readers,
                path: path.to_owned(),
            }),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `task` on a read connection (which refuses writes).
    ///
    /// # Errors
    /// `Unavailable` when no connection frees up in time, else what `task`
    /// failed with, described by `context`.
    pub async fn read<R: Send + 'static>(
        &self,
        context: &'static str,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, PortError> {
        let mut conn =
            self.shared.readers.get().await.map_err(|e| {
                PortError::Unavailable(anyhow::Error::new(e).context("checking out a SQLite connection"))
            })?;
        conn.spawn_blocking(task).await.map_err(failed(context))
    }

    /// Runs `task` in a write transaction (`BEGIN IMMEDIATE`) on the one
    /// writer: committed when it returns `Ok`, rolled back otherwise. The task
    /// runs to its end on the blocking pool even if the caller stops waiting,
    /// so no transaction is ever left open.
    ///
    /// # Errors
    /// What `task` failed with, described by `context`.
    pub async fn write<R: Send + 'static>(
        &self,
        context: &'static str,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, PortError> {
        let mut writer = self.shared.writer.lock().await;
        writer.spawn_blocking(move |conn| write_guarded(conn, task)).await.map_err(failed(context))
    }

    /// Whether the file still answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        self.read("readiness", |conn| conn.batch_execute("SELECT 1")).await.is_ok()
    }
}

/// Runs `task` in a write transaction. diesel leaves the transaction open
/// when the task panics; then it is rolled back here, since every later write
/// would otherwise fail on the one writer (and hold the file's write lock).
fn write_guarded<R>(
    conn: &mut SqliteConnection,
    task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R>,
) -> QueryResult<R> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.immediate_transaction(task)));
    outcome.unwrap_or_else(|_| {
        let rolled_back = <AnsiTransactionManager as TransactionManager<SqliteConnection>>::rollback_transaction(conn);
        tracing::error!(rolled_back = rolled_back.is_ok(), "a write transaction panicked");
        Err(diesel::result::Error::QueryBuilderError("the write panicked and was rolled back".into()))
    })
}

fn open_writer(url: &str) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnection::establish(url).with_context(|| format!("opening {url}"))?;
    conn.batch_execute(CONNECTION_PRAGMAS).context("setting connection pragmas")?;
    conn.batch_execute(DATABASE_PRAGMAS).context("setting database pragmas")?;
    let applied =
        conn.run_pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!(e)).context("applying migrations")?;
    for version in applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(conn)
}

async fn open_reader(url: String) -> diesel::ConnectionResult<Wrapped> {
    tokio::task::spawn_blocking(move || {
        let mut conn = SqliteConnection::establish(&url)?;
        conn.batch_execute(CONNECTION_PRAGMAS)
            .and_then(|()| conn.batch_execute("PRAGMA query_only = ON;"))
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok(SyncConnectionWrapper::new(conn))
    })
    .await
    .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?
}

/// Wraps a diesel error with what we were doing: a busy or unopenable file is
/// `Unavailable` (the request may succeed later), anything else `Unknown`.
pub(crate) fn failed(context: &'static str) -> impl FnOnce(diesel::result::Error) -> PortError {
    move |e| {
        let unavailable = matches!(&e, diesel::result::Error::DatabaseError(_, info)
            if ["database is locked", "disk I/O error", "unable to open"].iter().any(|sign| info.message().contains(sign)));
        let cause = anyhow::Error::new(e).context(context);
        if unavailable { PortError::Unavailable(cause) } else { PortError::Unknown(cause) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl as _;

    #[tokio::test]
    async fn a_write_that_panics_is_rolled_back_and_the_writer_goes_on() {
        let folder = std::env::temp_dir().join(format!("social-sqlite-{}", uuid::Uuid::now_v7()));
        let db = Sqlite::open(&folder.join("social.db"), 1).await.unwrap();
        let insert = "INSERT INTO dead_letters (event_id, routing_key, consumer, body, reason, attempts, failed_at) \
                      VALUES (x'00', 'k', 'c', x'00', 'r', 1, 0)";
        let failed = db
            .write("panicking", move |conn| -> QueryResult<()> {
                conn.batch_execute(insert)?;
                panic!("a bug in a repository");
            })
            .await;
        assert!(failed.is_err());
        db.write("after the panic", move |conn| conn.batch_execute(insert)).await.unwrap();
        let rows: i64 = db
            .read("counting", |conn| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM dead_letters)"))
                    .get_result(conn)
            })
            .await
            .unwrap();
        assert_eq!(rows, 1, "the panicking write left nothing behind");
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn a_sqlite_url_names_a_file() {
        assert_eq!(path_of("sqlite://./data/social.db"), Some(Path::new("./data/social.db")));
        assert_eq!(path_of("sqlite:///var/lib/social.db"), Some(Path::new("/var/lib/social.db")));
        assert_eq!(path_of("sqlite://"), None);
        assert_eq!(path_of("sqlite://:memory:"), None);
        assert_eq!(path_of("postgres://localhost/social"), None);
    }

    #[tokio::test]
    async fn opening_creates_the_folder_migrates_and_keeps_readers_read_only() {
        let folder = std::env::temp_dir().join(format!("social-sqlite-{}", uuid::Uuid::now_v7()));
        let db = Sqlite::open(&folder.join("nested/social.db"), 2).await.unwrap();
        let tables: i64 = db
            .read("counting tables", |conn| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'posts_search')",
                ))
                .get_result(conn)
            })
            .await
            .unwrap();
        assert_eq!(tables, 1, "FTS5 is compiled in and the schema is applied");
        let refused = db.read("writing on a reader", |conn| conn.batch_execute("DELETE FROM users")).await;
        assert!(refused.is_err(), "a read connection refuses writes");
        db.write("writing", |conn| conn.batch_execute("DELETE FROM users")).await.unwrap();
        let mode: String = db
            .read("journal mode", |conn| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                    "(SELECT journal_mode FROM pragma_journal_mode)",
                ))
                .get_result(conn)
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        drop(db);
        // Opening again applies nothing and keeps the data.
        Sqlite::open(&folder.join("nested/social.db"), 1).await.unwrap();
        std::fs::remove_dir_all(folder).unwrap();
    }
}
