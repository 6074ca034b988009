//! Start-up: configuration in, a running api out.

use anyhow::Context;
use application::user::{AdminBootstrap, UserService};
use shaku::HasComponent;
use std::net::TcpListener;
use std::sync::Arc;

use crate::config::Config;
use crate::di::{Adapters, AppModule, AuthSettings, PostSettings};
use crate::http;
use crate::persistence::outbox::Outbox;
use crate::persistence::{self, PgPool, PgRevocationStore};
use crate::security::{Argon2Hasher, JwtTokenIssuer, RevocationCache};
use crate::wire::PublicUrls;

/// Connections per process; enough for 2 cores with headroom for bursts.
const POOL_SIZE: usize = 16;

/// Connects to PostgreSQL (creating and migrating the database if needed) and
/// wires every adapter into the module.
///
/// # Errors
/// When PostgreSQL stays unreachable or an adapter cannot start.
pub async fn build_module(config: &Config) -> anyhow::Result<(Arc<AppModule>, PgPool)> {
    let pool = persistence::connect(config.database_url(), POOL_SIZE).await?;
    let revocations =
        RevocationCache::load(PgRevocationStore::new(pool.clone())).await.context("loading revocations")?;
    let adapters = Adapters {
        pool: pool.clone(),
        hasher: Argon2Hasher::new().await.context("preparing the password hasher")?,
        tokens: JwtTokenIssuer::new(
            &config.jwt_secret_key,
            &config.jwt_issuer,
            chrono::Duration::seconds(config.jwt_ttl_seconds.into()),
        ),
        revocations,
        outbox: Outbox::new(public_urls(config)),
        auth: AuthSettings { refresh_ttl: chrono::Duration::seconds(config.refresh_ttl_seconds.into()) },
        posts: PostSettings { daily_limit: config.post_daily_limit },
    };
    Ok((Arc::new(AppModule::wire(adapters)), pool))
}

fn public_urls(config: &Config) -> PublicUrls {
    PublicUrls { base: config.public_base_url.clone() }
}

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
            tracing::info!(user_id = %user.id, username = username.as_str(), "created bootstrap admin")
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

/// A built api, bound to its port but not yet serving.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    /// # Errors
    /// When a dependency cannot be reached or the port cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let (module, pool) = build_module(&config).await?;
        bootstrap_admin(&module, &config).await?;
        let listener = TcpListener::bind((config.server_address, config.server_port))
            .with_context(|| format!("binding {}:{}", config.server_address, config.server_port))?;
        let port = listener.local_addr()?.port();
        let server = http::serve(listener, module, pool, public_urls(&config))?;
        Ok(Self { port, server })
    }

    /// The port actually bound (useful with `SERVER_PORT=0`).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// # Errors
    /// When the server stops on an I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
