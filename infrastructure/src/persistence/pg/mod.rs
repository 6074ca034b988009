//! PostgreSQL through diesel-async (the served family): the pool, start-up
//! set-up, and repositories.

mod activity;
mod attempts;
mod follows;
mod notifications;
mod notifier_store;
pub mod outbox;
mod posts;
mod refresh_tokens;
pub mod relay_source;
mod revocations;
pub mod schema;
mod tickets;
mod users;
mod webhooks;

pub use activity::{PgActivity, PgStats};
pub use attempts::PgAttemptLimiter;
pub use follows::{PgFollowRepository, PgFollowRepositoryParameters};
pub use notifications::{PgNotificationRepository, PgNotificationRepositoryParameters};
pub use notifier_store::PgNotifierStore;
pub use posts::{PgPostRepository, PgPostRepositoryParameters};
pub use refresh_tokens::{PgRefreshTokenStore, PgRefreshTokenStoreParameters};
pub use revocations::PgRevocationStore;
pub use tickets::{PgTicketStore, PgTicketStoreParameters};
pub use users::{PgUserRepository, PgUserRepositoryParameters};
pub use webhooks::{PgWebhookRepository, PgWebhookRepositoryParameters};

use anyhow::Context;
use application::PortError;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;

use super::first_id_at;
use crate::di::Repositories;

pub type PgPool = Pool<AsyncPgConnection>;
type PgConnection = Object<AsyncPgConnection>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// The advisory lock key that serializes migrations across processes ("social:migrate").
const MIGRATION_LOCK: i64 = 0x736f_6369_616c_6d67;

/// How long start-up waits for PostgreSQL to answer before giving up.
const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

/// Waits for the server, creates the database if it is missing, applies
/// pending migrations, and returns a pool.
///
/// # Errors
/// When the server stays unreachable for a minute, the database cannot be
/// created, or a migration fails.
pub async fn connect(database_url: &str, max_connections: usize) -> anyhow::Result<PgPool> {
    ensure_database(database_url).await?;
    migrate(database_url).await?;
    // No test query on every checkout (the default costs a round trip and
    // PostgreSQL CPU per request): a connection the server closed while idle
    // fails on first use, is dropped, and that request answers 503.
    let mut manager_config = ManagerConfig::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(|url| Box::pin(establish_with_generic_plans(url.to_owned())));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, manager_config);
    Pool::builder(manager)
        .max_size(max_connections)
        // A saturated pool or a server that stopped answering is a fast 503,
        // not a request hanging for as long as the client waits.
        .wait_timeout(Some(Duration::from_secs(2)))
        .create_timeout(Some(Duration::from_secs(2)))
        .recycle_timeout(Some(Duration::from_secs(1)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the PostgreSQL pool")
}

/// A pool connection whose prepared statements are planned once.
///
/// PostgreSQL re-plans a prepared statement for its parameters (a "custom"
/// plan) whenever the plan it would make without them looks dearer, and for
/// `= ANY($1)` over an array it always does: profiled under load, planning took
/// more than half of PostgreSQL's CPU for `GET /posts/{id}` and a third for the
/// timeline, the executor a few percent. Every statement of the repositories is
/// written so that one plan fits every parameter (keys, cursors, limits); the
/// search picks its strategy in its own text (a window of recent posts, then
/// the GIN index), not from the planner's guess about the word.
async fn establish_with_generic_plans(url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
    use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
    let mut conn = AsyncPgConnection::establish(&url).await?;
    conn.batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Applies every pending embedded migration.
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        use diesel::RunQueryDsl as _;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to PostgreSQL to migrate")?;
        // Instances started together on a fresh database would otherwise race to
        // create the same tables. The lock is held by this session: it is released
        // below, or by the server if this process dies mid-way.
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .execute(&mut conn)
            .context("waiting for the migration lock")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| anyhow::anyhow!(e))
            .context("applying migrations");
        let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn);
        for version in applied? {
            tracing::info!(%version, "applied migration");
        }
        unlocked.context("releasing the migration lock")?;
        Ok(())
    })
    .await
    .context("migration task")?
}

/// Creates the database named in `database_url` if the server does not have it,
/// waiting for the server with backoff first.
async fn ensure_database(database_url: &str) -> anyhow::Result<()> {
    let config: tokio_postgres::Config = database_url.parse().context("DATABASE_URL is not a PostgreSQL URL")?;
    let name = config.get_dbname().unwrap_or("postgres").to_owned();
    let mut maintenance = config.clone();
    maintenance.dbname("postgres");
    let client = connect_with_backoff(&maintenance).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .context("looking for the database")?
        .is_some();
    if !exists {
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match client.batch_execute(&create).await {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our CREATE: PostgreSQL
            // reports that as duplicate_database, or, when both CREATEs run at
            // once, as a unique violation on its catalog.
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                    || e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(e).context("creating the database"),
        }
    }
    Ok(())
}

async fn connect_with_backoff(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let started = tokio::time::Instant::now();
    let mut backoff = crate::backoff::Backoff::default();
    loop {
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "maintenance connection closed");
                    }
                });
                return Ok(client);
            }
            Err(e) if started.elapsed() < STARTUP_PATIENCE => {
                let pause = backoff.next_pause();
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "PostgreSQL not reachable yet");
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e).context("PostgreSQL stayed unreachable"),
        }
    }
}

/// The PostgreSQL family: one repository per port, on `pool`. `retention` is
/// how long failed logins and registrations are kept.
#[must_use]
pub fn repositories(pool: &PgPool, outbox: &super::outbox::Outbox, retention: chrono::Duration) -> Repositories {
    let activity = PgActivity::start(pool.clone());
    Repositories {
        users: Box::new(PgUserRepository::new(pool.clone())),
        refresh_tokens: Box::new(PgRefreshTokenStore::new(pool.clone())),
        posts: Box::new(PgPostRepository::new(pool.clone(), outbox.clone())),
        follows: Box::new(PgFollowRepository::new(pool.clone(), outbox.clone())),
        notifications: Box::new(PgNotificationRepository::new(pool.clone())),
        tickets: Box::new(PgTicketStore::new(pool.clone())),
        activity: Box::new(activity.clone()),
        stats: Box::new(PgStats::new(activity)),
        attempts: Box::new(PgAttemptLimiter::start(pool.clone(), retention)),
        webhooks: Box::new(PgWebhookRepository::new(pool.clone())),
    }
}

/// Checks out a connection. Every pool failure (no connection free within the
/// wait, or the server refusing new ones) means PostgreSQL cannot serve us now.
async fn checkout(pool: &PgPool) -> Result<PgConnection, PortError> {
    pool.get().await.map_err(|e| PortError::Unavailable(anyhow::Error::new(e).context("checking out a connection")))
}

/// Wraps a diesel error with what we were doing: a lost connection or a server
/// going down is `Unavailable`, anything else `Unknown`.
fn failed(context: &'static str) -> impl FnOnce(diesel::result::Error) -> PortError {
    move |e| {
        let unavailable = is_connection_failure(&e);
        let cause = anyhow::Error::new(e).context(context);
        if unavailable { PortError::Unavailable(cause) } else { PortError::Unknown(cause) }
    }
}

/// Whether `error` says the server is unreachable or going away rather than
/// that the statement was wrong. diesel-async reports a broken socket as
/// `UnableToSendCommand`/`ClosedConnection`; a server shutting down or a
/// database dropped under us ends the session with an admin-shutdown message
/// (SQLSTATE class 57), which diesel only exposes as text.
fn is_connection_failure(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection, _) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            ["terminating connection", "shutting down", "starting up", "too many clients"]
                .iter()
                .any(|sign| message.contains(sign))
        }
        _ => false,
    }
}

/// Whether the server answers a trivial query.
pub async fn is_ready(pool: &PgPool) -> bool {
    use diesel_async::RunQueryDsl;
    let Ok(mut conn) = pool.get().await else {
        return false;
    };
    diesel::sql_query("SELECT 1").execute(&mut conn).await.is_ok()
}
