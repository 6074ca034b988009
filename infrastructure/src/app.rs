//! Start-up: configuration in, running services out.

use anyhow::Context;
use application::auth::AttemptLimits;
use application::ports::{LoginLimits, RateLimit};
use application::user::{AdminBootstrap, UserService};
use shaku::HasComponent;
use std::net::TcpListener;
use std::sync::Arc;
use tokio::sync::Notify;

use crate::config::Config;
use crate::di::{Adapters, AppModule, AuthSettings, PostSettings};
use crate::events::{AUTH_REVOKED, Envelope, USER_DELETED};
use crate::http::media::MediaSettings;
use crate::http::{self, Readiness};
use crate::messaging::{Broker, EventBus, InProcessBus, Relay, sync_handler};
use crate::persistence::outbox::Outbox;
use crate::persistence::sqlite::{Sqlite, SqliteRevocationStore, SqliteWebhookRepository};
use crate::persistence::{self, Database, PgPool, PgRevocationStore, PgWebhookRepository};
use crate::security::{Argon2Hasher, HashPoolSize, JwtTokenIssuer, RevocationCache};
use crate::storage::{DecodeLimits, LocalAvatarStorage};
use crate::webhooks::{DeliveryLimits, EmbeddedPipeline, Pipeline, PublicUrlGuard};
use crate::wire::PublicUrls;

/// Connections per process; enough for 2 cores with headroom for bursts.
const POOL_SIZE: usize = 16;
/// SQLite read connections (reads run on the blocking pool, one per connection at a time).
const SQLITE_READERS: usize = 8;

/// The adapters a core runs on, with what start-up needs of each family.
#[derive(Clone)]
pub enum Family {
    /// PostgreSQL and RabbitMQ: any number of processes.
    Served { pool: PgPool, database_url: String, broker: Broker },
    /// SQLite and the in-process bus: one process.
    Embedded { db: Sqlite, bus: InProcessBus },
}

/// What both services are built on: the wired module and the adapters that
/// start-up code needs by hand. `social` builds one and runs both services on
/// it (the embedded mode needs that: one database writer, one in-process bus).
#[derive(Clone)]
pub struct Core {
    pub module: Arc<AppModule>,
    pub family: Family,
    pub revocations: RevocationCache,
    /// Woken after each commit that wrote outbox rows.
    pub relay_wake: Arc<Notify>,
    /// The `pool` label of the password hasher's metrics.
    pub hash_pool: String,
}

impl Core {
    /// The event bus of this core's family.
    #[must_use]
    pub fn bus(&self) -> Arc<dyn EventBus> {
        match &self.family {
            Family::Served { broker, .. } => Arc::new(broker.clone()),
            Family::Embedded { bus, .. } => Arc::new(bus.clone()),
        }
    }

    /// The database of this core's family.
    #[must_use]
    pub fn database(&self) -> Database {
        match &self.family {
            Family::Served { pool, .. } => Database::Postgres(pool.clone()),
            Family::Embedded { db, .. } => Database::Sqlite(db.clone()),
        }
    }

    /// How many consumers the in-process bus has bound (0 when served).
    #[must_use]
    pub fn consumers(&self) -> usize {
        match &self.family {
            Family::Served { .. } => 0,
            Family::Embedded { bus, .. } => bus.subscribers(),
        }
    }

    /// Waits until a consumer spawned after [`Core::consumers`] answered
    /// `before` is bound: it binds on its task's first poll, and the in-process
    /// bus, like an exchange with no queue, routes an event nobody is bound to
    /// nowhere. Served, RabbitMQ's durable queues keep events meanwhile.
    pub async fn bound(&self, before: usize) {
        if let Family::Embedded { bus, .. } = &self.family {
            while bus.subscribers() <= before {
                tokio::task::yield_now().await;
            }
        }
    }

    /// What `/health/ready` checks.
    #[must_use]
    pub fn readiness(&self) -> Readiness {
        Readiness { database: self.database(), bus: self.bus() }
    }
}

#[must_use]
pub fn public_urls(config: &Config) -> PublicUrls {
    PublicUrls { base: config.public_base_url.clone() }
}

/// Opens the database of the configuration (creating and migrating it if
/// needed): PostgreSQL, or in embedded mode the SQLite file; and wires every
/// adapter into the module. Does not touch the broker.
///
/// # Errors
/// When the database stays unreachable or an adapter cannot start.
pub async fn build_core(config: &Config) -> anyhow::Result<Core> {
    let relay_wake = Arc::new(Notify::new());
    let outbox = Outbox::new(public_urls(config), Arc::clone(&relay_wake));
    let limits = attempt_limits(config);
    let retention = attempts_retention(&limits);
    let (family, repositories, revocations) = match config.embedded_database() {
        None => {
            let pool = persistence::connect(config.database_url(), POOL_SIZE).await?;
            let revocations = RevocationCache::load(PgRevocationStore::new(pool.clone(), outbox.clone()));
            let repositories = persistence::pg::repositories(&pool, &outbox, retention);
            let broker =
                Broker::new(config.amqp_url.clone(), &config.amqp_exchange).with_queue_type(config.amqp_queue_type);
            let database_url = config.database_url().to_owned();
            (Family::Served { pool, database_url, broker }, repositories, revocations.await)
        }
        Some(path) => {
            let db = Sqlite::open(path, SQLITE_READERS).await?;
            tracing::info!(database = %path.display(), media = %config.media_dir.display(), "embedded mode: SQLite and an in-process event bus, no server needed");
            let revocations = RevocationCache::load(SqliteRevocationStore::new(db.clone(), outbox.clone()));
            let repositories = persistence::sqlite::repositories(&db, &outbox, retention);
            let bus = InProcessBus::new(db.clone());
            (Family::Embedded { db, bus }, repositories, revocations.await)
        }
    };
    let revocations = revocations.context("loading revocations")?;
    let hasher = Argon2Hasher::new(HashPoolSize { workers: config.hash_workers, queue: config.hash_queue })
        .context("preparing the password hasher")?;
    let hash_pool = hasher.metrics_label().to_owned();
    let adapters = Adapters {
        repositories,
        hasher,
        tokens: JwtTokenIssuer::new(
            &config.jwt_secret_key,
            &config.jwt_issuer,
            chrono::Duration::seconds(config.jwt_ttl_seconds.into()),
        ),
        revocations: revocations.clone(),
        avatars: LocalAvatarStorage::new(
            config.media_dir.clone(),
            DecodeLimits { max_pixels: config.avatar_max_pixels, decoders: config.avatar_decoders },
        )?,
        url_guard: PublicUrlGuard::new(config.webhook_allow_private),
        auth: AuthSettings { refresh_ttl: chrono::Duration::seconds(config.refresh_ttl_seconds.into()), limits },
        post_settings: PostSettings { daily_limit: config.post_daily_limit },
    };
    Ok(Core { module: Arc::new(AppModule::wire(adapters)), family, revocations, relay_wake, hash_pool })
}

/// The throttling limits of the configuration (`LOGIN_*`, `REGISTER_PER_HOUR`).
#[must_use]
pub fn attempt_limits(config: &Config) -> AttemptLimits {
    let window = chrono::Duration::seconds(config.login_window_seconds.into());
    AttemptLimits {
        login: LoginLimits {
            per_username: RateLimit { max: config.login_max_failures, window },
            per_address: RateLimit { max: config.login_max_failures.saturating_mul(ADDRESS_FACTOR), window },
        },
        registration: RateLimit { max: config.register_per_hour, window: chrono::Duration::hours(1) },
    }
}

/// How long attempts are kept: the longest window that counts them.
fn attempts_retention(limits: &AttemptLimits) -> chrono::Duration {
    limits.login.per_username.window.max(limits.registration.window)
}

/// Failed logins from one address may reach this many times the per-username limit.
const ADDRESS_FACTOR: u32 = 10;

/// Creates the admin named in the configuration if no user has that name.
///
/// # Errors
/// When the database fails.
pub async fn bootstrap_admin(module: &AppModule, config: &Config) -> anyhow::Result<()> {
    let Some((username, password)) = config.admin.clone() else {
        return Ok(());
    };
    let users: Arc<UserService> = module.resolve();
    match users.bootstrap_admin(username.clone(), password).await.map_err(|e| anyhow::anyhow!(e))? {
        AdminBootstrap::Created(user) => {
            tracing::info!(user_id = %user.id, username = username.as_str(), "created bootstrap admin");
        }
        AdminBootstrap::AlreadyExists { is_admin: true } => {}
        AdminBootstrap::AlreadyExists { is_admin: false } => {
            tracing::warn!(
                username = username.as_str(),
                "ADMIN_USERNAME names an existing non-admin user; left unchanged"
            );
        }
    }
    Ok(())
}

/// Applies revocations made on other instances to this one's in-memory list.
pub fn spawn_revocation_listener(bus: Arc<dyn EventBus>, revocations: RevocationCache, purpose: &'static str) {
    let handler = sync_handler(move |message| revocations.apply_event(&Envelope::parse(&message.body)?.event));
    tokio::spawn(async move { bus.consume(purpose, &[AUTH_REVOKED, USER_DELETED], 64, handler).await });
}

/// The api's background work: the webhook pipeline, then the outbox relay
/// (consumers first: the in-process bus, like an exchange with no queue,
/// routes an event nobody is bound to nowhere), and, served, the listener of
/// revocations made by other instances. None of it waits for the broker: the
/// api serves while RabbitMQ is down.
async fn spawn_background(core: &Core, config: &Config) -> anyhow::Result<()> {
    let bus = core.bus();
    let limits = DeliveryLimits {
        max_attempts: config.webhook_max_retry,
        per_webhook: config.webhook_per_target,
        per_user: config.webhook_per_user,
    };
    let guard = PublicUrlGuard::new(config.webhook_allow_private);
    let poll = std::time::Duration::from_millis(config.outbox_poll_ms.into());
    let wake = Arc::clone(&core.relay_wake);
    let relay = match &core.family {
        Family::Served { pool, database_url, broker } => {
            Pipeline::new(broker.clone(), PgWebhookRepository::new(pool.clone()), guard, limits)?.spawn();
            spawn_revocation_listener(Arc::clone(&bus), core.revocations.clone(), "api revocations");
            Relay::postgres(database_url.clone(), bus, wake, poll)
        }
        Family::Embedded { db, .. } => {
            let consumers = core.consumers();
            EmbeddedPipeline::new(
                db.clone(),
                Arc::clone(&bus),
                SqliteWebhookRepository::new(db.clone()),
                guard,
                limits,
            )?
            .spawn();
            core.bound(consumers).await;
            Relay::sqlite(db.clone(), bus, wake, poll)
        }
    };
    tokio::spawn(relay.run());
    Ok(())
}

/// A built api, bound to its port but not yet serving.
pub struct Application {
    port: u16,
    hash_pool: String,
    server: actix_web::dev::Server,
    bus: Arc<dyn EventBus>,
}

/// Stops a running api gracefully: requests in flight finish, then the
/// broker connections close.
#[derive(Clone)]
pub struct ApiStopper(actix_web::dev::ServerHandle);

impl ApiStopper {
    pub async fn stop(&self) {
        self.0.stop(true).await;
    }
}

impl Application {
    /// Builds the api and starts its background work: the outbox relay and
    /// the revocation listener (both wait for the broker without blocking
    /// start-up: the api serves while RabbitMQ is down).
    ///
    /// # Errors
    /// When PostgreSQL cannot be reached or the port cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::start(build_core(&config).await?, config).await
    }

    /// Like [`Application::build`], on a core built already (and shared with a
    /// notifier in the same process).
    ///
    /// # Errors
    /// When the database fails or the port cannot be bound.
    pub async fn start(core: Core, config: Config) -> anyhow::Result<Self> {
        bootstrap_admin(&core.module, &config).await?;
        spawn_background(&core, &config).await?;
        let listener = TcpListener::bind((config.server_address, config.server_port))
            .with_context(|| format!("binding {}:{}", config.server_address, config.server_port))?;
        let port = listener.local_addr()?.port();
        let readiness = core.readiness();
        let media = MediaSettings { dir: config.media_dir.clone(), max_bytes: config.avatar_max_bytes };
        let hash_pool = core.hash_pool.clone();
        let proxies = config.trusted_proxies.clone();
        let bus = core.bus();
        let page = http::web::WebClient::new(
            config.public_websocket_url.as_deref(),
            config.websocket_port,
            config.public_base_url.as_deref(),
        );
        let server = http::serve(listener, core.module, readiness, public_urls(&config), media, proxies, page)?;
        Ok(Self { port, hash_pool, server, bus })
    }

    /// The port actually bound (useful with `SERVER_PORT=0`).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The `pool` label of this api's password-hashing metrics (tests running
    /// several apps in one process tell theirs apart by it).
    #[must_use]
    pub fn hash_pool(&self) -> &str {
        &self.hash_pool
    }

    /// # Errors
    /// When the server stops on an I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let outcome = self.server.await;
        self.bus.close().await;
        outcome
    }

    /// A handle that stops the server (the binaries call it on SIGINT/SIGTERM).
    #[must_use]
    pub fn stopper(&self) -> ApiStopper {
        ApiStopper(self.server.handle())
    }
}
