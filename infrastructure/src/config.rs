//! Typed configuration from the environment (every variable is listed in `.env.example`).
//!
//! Every variable is read and checked once at start-up; a bad value stops the
//! process with one line naming the variable.

use domain::{Password, Username};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::http::client::TrustedProxies;
use crate::messaging::QueueType;

/// A variable that is missing or holds a bad value.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// Everything the services read from the environment.
#[derive(Clone)]
pub struct Config {
    pub database_url: SecretString,
    pub amqp_url: SecretString,
    /// The topic exchange of events; per deployment (or per test) if several share a vhost.
    pub amqp_exchange: String,
    /// The kind of the durable queues (`AMQP_QUEUE_TYPE`; default quorum when
    /// `AMQP_URL` lists several nodes, classic for one).
    pub amqp_queue_type: QueueType,
    pub server_address: IpAddr,
    pub server_port: u16,
    pub websocket_port: u16,
    /// actix workers of the notifier.
    pub notifier_workers: usize,
    pub jwt_secret_key: SecretString,
    pub jwt_issuer: String,
    pub jwt_ttl_seconds: u32,
    pub refresh_ttl_seconds: u32,
    /// Bootstrap admin; the password's `Debug` is redacted.
    pub admin: Option<(Username, Password)>,
    pub post_daily_limit: u32,
    pub avatar_max_bytes: u64,
    /// Uploads announcing more pixels are refused before decoding.
    pub avatar_max_pixels: u64,
    /// Uploads decoded at once; more answer 503 `busy`.
    pub avatar_decoders: usize,
    pub media_dir: PathBuf,
    pub public_base_url: Option<String>,
    /// Where browsers reach the notifier (`/ws` behind a balancer, or an
    /// absolute `ws(s)://` URL); unset, the web page uses its own host on
    /// `websocket_port`.
    pub public_websocket_url: Option<String>,
    pub webhook_max_retry: u32,
    pub webhook_allow_private: bool,
    /// How often the outbox relay looks for rows nobody announced.
    pub outbox_poll_ms: u32,
    /// Deliveries in flight to one webhook.
    pub webhook_per_target: usize,
    /// Deliveries in flight for one user's webhooks together.
    pub webhook_per_user: usize,
    /// Failed logins per username and client address within the window; the
    /// per-address limit is ten times this.
    pub login_max_failures: u32,
    pub login_window_seconds: u32,
    /// Registrations per client address per hour.
    pub register_per_hour: u32,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Password-hashing threads (default: the number of cores).
    pub hash_workers: usize,
    /// Hashing jobs that may wait for a thread before login/register answer 503 `busy`.
    pub hash_queue: usize,
}

/// Where each variable comes from: the process environment in production, a
/// map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<S: std::hash::BuildHasher> Source for std::collections::HashMap<&str, &str, S> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).map(|v| (*v).to_owned())
    }
}

struct Reader<'a>(&'a dyn Source);

impl Reader<'_> {
    fn parsed<T: FromStr>(&self, variable: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.0.get(variable) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e| ConfigError { variable, problem: format!("is invalid: {e}") }),
        }
    }

    fn text(&self, variable: &'static str, default: &str) -> String {
        self.0.get(variable).unwrap_or_else(|| default.to_owned())
    }

    fn bounded(&self, variable: &'static str, default: u32, min: u32) -> Result<u32, ConfigError> {
        let value = self.parsed(variable, default)?;
        if value < min {
            return Err(ConfigError { variable, problem: format!("must be at least {min}") });
        }
        Ok(value)
    }
}

/// Where the embedded mode keeps its database when `DATABASE_URL` is unset.
pub const EMBEDDED_DATABASE_URL: &str = "sqlite://./data/social.db";
const SERVED_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/social";

fn database_url(read: &Reader<'_>, default: &str) -> Result<String, ConfigError> {
    let url = read.text("DATABASE_URL", default);
    let served = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if served || crate::persistence::sqlite::path_of(&url).is_some() {
        Ok(url)
    } else {
        Err(ConfigError { variable: "DATABASE_URL", problem: "must start with postgres:// or sqlite://".into() })
    }
}

/// The cores this process may use: the default of every "one per core" bound
/// (hashing and image decoding are pure CPU: more threads than cores only
/// queue on them, holding more memory).
fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

/// Only `DATABASE_URL` (after `.env`), for commands that need nothing else;
/// unset, the embedded database `social` would use.
///
/// # Errors
/// When `DATABASE_URL` is invalid.
pub fn database_url_from_env() -> Result<String, ConfigError> {
    // A missing .env is normal outside development.
    let _ = dotenvy::dotenv();
    database_url(&Reader(&Environment), EMBEDDED_DATABASE_URL)
}

/// A JWT secret shorter than this is refused (HS256 wants 256 bits).
const MIN_JWT_SECRET_BYTES: usize = 32;

/// The placeholder that earlier versions of `.env.example` shipped: anyone who
/// has read the repository knows it, so a token signed with it proves nothing.
const KNOWN_PLACEHOLDERS: [&str; 1] = ["change-me-to-at-least-32-random-bytes-please"];

/// Refuses keys that anyone could guess: short ones, published placeholders,
/// and keys made of a handful of repeated characters.
fn check_jwt_secret(key: &str) -> Result<(), ConfigError> {
    let refuse = |problem: &str| Err(ConfigError { variable: "JWT_SECRET_KEY", problem: problem.to_owned() });
    if key.len() < MIN_JWT_SECRET_BYTES {
        return refuse("must be at least 32 bytes");
    }
    let lowered = key.to_ascii_lowercase();
    if KNOWN_PLACEHOLDERS.contains(&lowered.as_str())
        || lowered.starts_with("change-me")
        || lowered.starts_with("changeme")
    {
        return refuse("is a published placeholder; generate a key (e.g. openssl rand -hex 32)");
    }
    let distinct = key.bytes().collect::<std::collections::BTreeSet<_>>().len();
    if distinct < 5 {
        return refuse("is too repetitive to be secret; generate a key (e.g. openssl rand -hex 32)");
    }
    Ok(())
}

/// A `PUBLIC_WEBSOCKET_URL` is written into the web page and its
/// Content-Security-Policy: a path on the page's origin or a ws(s)/http(s)
/// URL, of characters that need no quoting in either.
fn check_websocket_url(url: &str) -> Result<(), ConfigError> {
    let refuse = |problem: &str| Err(ConfigError { variable: "PUBLIC_WEBSOCKET_URL", problem: problem.to_owned() });
    let absolute = ["ws://", "wss://", "http://", "https://"].iter().find_map(|scheme| url.strip_prefix(scheme));
    match absolute {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => return refuse("has no host"),
        Some(_) => {}
        None if url.starts_with('/') && !url.starts_with("//") => {}
        None => return refuse("must be a path such as /ws or a ws://, wss://, http:// or https:// URL"),
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&()*+,=%".contains(c);
    if !url.chars().all(plain) {
        return refuse("may not hold spaces, quotes, ';', '<' or '>'");
    }
    Ok(())
}

/// The signing key kept in `path`, created (64 hex digits from the OS's
/// random source, mode 0600) the first time. This is how `social` runs with no
/// configuration: one key per data directory, stable across restarts.
///
/// # Errors
/// When the file cannot be read or created, or holds a key that
/// [`Config::from_source`] would refuse. The flag says whether it was created now.
pub fn load_or_create_key(path: &std::path::Path) -> anyhow::Result<(SecretString, bool)> {
    use anyhow::Context;
    use std::io::Write;
    match std::fs::read_to_string(path) {
        Ok(key) => {
            let key = key.trim().to_owned();
            check_jwt_secret(&key).with_context(|| format!("the key in {}", path.display()))?;
            return Ok((SecretString::from(key), false));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(key.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            Ok((SecretString::from(key), true))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key(path),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// A source that answers `JWT_SECRET_KEY` from a key file when the
/// environment does not set it.
pub struct WithKey<'a> {
    pub inner: &'a dyn Source,
    pub key: SecretString,
}

impl Source for WithKey<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.inner.get(name).or_else(|| (name == "JWT_SECRET_KEY").then(|| self.key.expose_secret().to_owned()))
    }
}

impl Config {
    /// Reads the process environment (after `.env`, if present).
    ///
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal outside development.
        let _ = dotenvy::dotenv();
        let config = Self::from_source(&Environment)?;
        if config.embedded_database().is_some() {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                problem: "is sqlite://, the embedded mode, which only the `social` binary runs; \
                          `api` and `notifier` need PostgreSQL (postgres://) and RabbitMQ"
                    .into(),
            });
        }
        Ok(config)
    }

    /// What `social` reads: like [`Config::from_env`], but an unset
    /// `DATABASE_URL` means the embedded mode ([`EMBEDDED_DATABASE_URL`]), and
    /// an unset `JWT_SECRET_KEY` is taken from the key file at `path` (created
    /// on first use). The flag says whether the key was generated now.
    ///
    /// # Errors
    /// The first variable that is missing or invalid, or a key file that
    /// cannot be read or created.
    pub fn from_env_or_key_file(path: &std::path::Path) -> anyhow::Result<(Self, bool)> {
        // A missing .env is normal outside development.
        let _ = dotenvy::dotenv();
        if Environment.get("JWT_SECRET_KEY").is_some() {
            return Ok((Self::parse(&Environment, EMBEDDED_DATABASE_URL)?, false));
        }
        let (key, generated) = load_or_create_key(path)?;
        Ok((Self::parse(&WithKey { inner: &Environment, key }, EMBEDDED_DATABASE_URL)?, generated))
    }

    /// Reads `source`; an unset `DATABASE_URL` means the local PostgreSQL.
    ///
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        Self::parse(source, SERVED_DATABASE_URL)
    }

    /// Reads `source`; an unset `DATABASE_URL` means the embedded mode.
    ///
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn embedded_from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        Self::parse(source, EMBEDDED_DATABASE_URL)
    }

    fn parse(source: &dyn Source, default_database_url: &str) -> Result<Self, ConfigError> {
        let read = Reader(source);
        let jwt_secret_key = source
            .get("JWT_SECRET_KEY")
            .ok_or(ConfigError { variable: "JWT_SECRET_KEY", problem: "is required (at least 32 bytes)".into() })?;
        check_jwt_secret(&jwt_secret_key)?;
        let database_url = database_url(&read, default_database_url)?;
        if crate::persistence::sqlite::path_of(&database_url).is_some() && source.get("AMQP_URL").is_some() {
            return Err(ConfigError {
                variable: "AMQP_URL",
                problem: "must be unset with a sqlite:// DATABASE_URL: the embedded mode is one process \
                          with an in-process event bus (use postgres:// to run with RabbitMQ)"
                    .into(),
            });
        }
        let amqp_url = read.text("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
        let amqp = |url: &str| url.starts_with("amqp://") || url.starts_with("amqps://");
        let nodes: Vec<&str> = crate::messaging::node_urls(&amqp_url).collect();
        if nodes.is_empty() || !nodes.iter().all(|url| amqp(url)) {
            return Err(ConfigError {
                variable: "AMQP_URL",
                problem: "must be amqp:// or amqps:// URLs (several, comma-separated, for a cluster's nodes)".into(),
            });
        }
        let amqp_queue_type = read.parsed("AMQP_QUEUE_TYPE", QueueType::for_nodes(nodes.len()))?;
        let admin = match (source.get("ADMIN_USERNAME"), source.get("ADMIN_PASSWORD")) {
            (Some(name), Some(password)) => Some((
                Username::new(&name)
                    .map_err(|e| ConfigError { variable: "ADMIN_USERNAME", problem: format!("is invalid: {e}") })?,
                Password::new(&password)
                    .map_err(|e| ConfigError { variable: "ADMIN_PASSWORD", problem: format!("is invalid: {e}") })?,
            )),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError {
                    variable: "ADMIN_PASSWORD",
                    problem: "is required when ADMIN_USERNAME is set".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    variable: "ADMIN_USERNAME",
                    problem: "is required when ADMIN_PASSWORD is set".into(),
                });
            }
        };
        let public_base_url = source.get("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_owned());
        let public_websocket_url = source.get("PUBLIC_WEBSOCKET_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &public_websocket_url {
            check_websocket_url(url)?;
        }
        Ok(Self {
            database_url: SecretString::from(database_url),
            amqp_url: SecretString::from(amqp_url),
            amqp_exchange: read.text("AMQP_EXCHANGE", "social.events"),
            amqp_queue_type,
            server_address: read.parsed("SERVER_ADDRESS", IpAddr::from([0, 0, 0, 0]))?,
            server_port: read.parsed("SERVER_PORT", 3000)?,
            websocket_port: read.parsed("WEBSOCKET_PORT", 4000)?,
            notifier_workers: read.bounded("NOTIFIER_WORKERS", 1, 1)? as usize,
            jwt_secret_key: SecretString::from(jwt_secret_key),
            jwt_issuer: read.text("JWT_ISSUER", "social"),
            jwt_ttl_seconds: read.bounded("JWT_TTL_SECONDS", 3600, 1)?,
            refresh_ttl_seconds: read.bounded("REFRESH_TTL_SECONDS", 2_592_000, 1)?,
            admin,
            post_daily_limit: read.parsed("POST_DAILY_LIMIT", 100)?,
            avatar_max_bytes: read.parsed("AVATAR_MAX_BYTES", 2_097_152)?,
            avatar_max_pixels: read.bounded("AVATAR_MAX_PIXELS", 25_000_000, 1)?.into(),
            avatar_decoders: read.bounded("AVATAR_DECODERS", cores(), 1)? as usize,
            media_dir: PathBuf::from(read.text("MEDIA_DIR", "./data/media")),
            public_base_url,
            public_websocket_url,
            webhook_max_retry: read.parsed("WEBHOOK_MAX_RETRY", 5)?,
            webhook_allow_private: read.parsed("WEBHOOK_ALLOW_PRIVATE", false)?,
            outbox_poll_ms: read.bounded("OUTBOX_POLL_MS", 1000, 10)?,
            webhook_per_target: read.bounded("WEBHOOK_PER_TARGET", 2, 1)? as usize,
            webhook_per_user: read.bounded("WEBHOOK_PER_USER", 4, 1)? as usize,
            login_max_failures: read.bounded("LOGIN_MAX_FAILURES", 5, 1)?,
            login_window_seconds: read.bounded("LOGIN_WINDOW_SECONDS", 900, 1)?,
            register_per_hour: read.bounded("REGISTER_PER_HOUR", 10, 1)?,
            trusted_proxies: read.parsed("TRUSTED_PROXIES", TrustedProxies::default())?,
            hash_workers: read.bounded("HASH_WORKERS", cores(), 1)? as usize,
            hash_queue: read.bounded("HASH_QUEUE", 64, 1)? as usize,
        })
    }

    #[must_use]
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// The SQLite file of the embedded mode, or `None` when served by PostgreSQL.
    #[must_use]
    pub fn embedded_database(&self) -> Option<&std::path::Path> {
        crate::persistence::sqlite::path_of(self.database_url())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("server_address", &self.server_address)
            .field("server_port", &self.server_port)
            .field("websocket_port", &self.websocket_port)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_ttl_seconds", &self.jwt_ttl_seconds)
            .field("admin", &self.admin.as_ref().map(|(name, _)| name.as_str()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_fill_every_optional_variable() {
        let config = Config::from_source(&HashMap::from([("JWT_SECRET_KEY", KEY)])).unwrap();
        assert_eq!(config.server_port, 3000);
        assert_eq!(config.websocket_port, 4000);
        assert_eq!(config.jwt_ttl_seconds, 3600);
        assert_eq!(config.database_url(), "postgres://postgres@127.0.0.1:5432/social");
        assert!(config.admin.is_none());
        assert_eq!(config.hash_queue, 64);
        assert_eq!((config.login_max_failures, config.login_window_seconds, config.register_per_hour), (5, 900, 10));
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.hash_workers, std::thread::available_parallelism().unwrap().get());
    }

    #[test]
    fn a_public_websocket_url_is_a_path_or_a_websocket_or_http_url() {
        let with = |url| Config::from_source(&HashMap::from([("JWT_SECRET_KEY", KEY), ("PUBLIC_WEBSOCKET_URL", url)]));
        assert_eq!(Config::from_source(&HashMap::from([("JWT_SECRET_KEY", KEY)])).unwrap().public_websocket_url, None);
        for good in ["/ws", "wss://example.org/ws", "ws://127.0.0.1:4000/ws", "https://example.org:8443/ws"] {
            assert_eq!(with(good).unwrap().public_websocket_url.as_deref(), Some(good));
        }
        for bad in
            ["ws", "//example.org/ws", "wss://", "ftp://example.org/ws", "/ws\"; script-src *", "/ws x", "wss:///ws"]
        {
            assert_eq!(with(bad).unwrap_err().variable, "PUBLIC_WEBSOCKET_URL", "{bad}");
        }
    }

    #[test]
    fn a_missing_or_short_jwt_secret_names_the_variable() {
        let err = Config::from_source(&HashMap::new()).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET_KEY");
        let err = Config::from_source(&HashMap::from([("JWT_SECRET_KEY", "short")])).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET_KEY");
    }

    #[test]
    fn placeholder_and_repetitive_keys_are_refused() {
        for key in
            ["change-me-to-at-least-32-random-bytes-please", "CHANGE-ME-please-0123456789abcdef", &"a".repeat(64)]
        {
            let err = Config::from_source(&HashMap::from([("JWT_SECRET_KEY", key)])).unwrap_err();
            assert_eq!(err.variable, "JWT_SECRET_KEY", "{key}");
        }
    }

    #[test]
    fn a_key_file_is_created_once_private_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("social-key-{}", uuid::Uuid::now_v7().simple()));
        let path = dir.join("jwt-secret");
        let (first, created) = load_or_create_key(&path).unwrap();
        let (second, created_again) = load_or_create_key(&path).unwrap();
        assert!(created && !created_again);
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let source = HashMap::new();
        let config = Config::from_source(&WithKey { inner: &source, key: first }).unwrap();
        assert_eq!(config.jwt_secret_key.expose_secret(), second.expose_secret());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (variable, value) in [
            ("SERVER_PORT", "http"),
            ("JWT_TTL_SECONDS", "0"),
            ("DATABASE_URL", "mysql://x"),
            ("WEBHOOK_ALLOW_PRIVATE", "maybe"),
            ("HASH_WORKERS", "0"),
            ("HASH_WORKERS", "many"),
            ("HASH_QUEUE", "0"),
            ("HASH_QUEUE", "-1"),
            ("LOGIN_MAX_FAILURES", "0"),
            ("LOGIN_WINDOW_SECONDS", "15m"),
            ("REGISTER_PER_HOUR", "0"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
            ("AMQP_URL", "amqp://a:5672/%2f, http://b:5672/"),
            ("AMQP_URL", " , "),
            ("AMQP_QUEUE_TYPE", "stream"),
        ] {
            let err = Config::from_source(&HashMap::from([("JWT_SECRET_KEY", KEY), (variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable);
            assert!(err.to_string().starts_with(&format!("configuration: {variable} ")));
        }
    }

    #[test]
    fn queues_are_quorum_for_a_cluster_unless_told_otherwise() {
        let kind = |pairs: &[(&'static str, &'static str)]| {
            let mut source = HashMap::from([("JWT_SECRET_KEY", KEY)]);
            source.extend(pairs.iter().copied());
            Config::from_source(&source).unwrap().amqp_queue_type
        };
        let cluster = ("AMQP_URL", "amqp://a:5672/%2f, amqp://b:5672/%2f");
        assert_eq!(kind(&[]), QueueType::Classic);
        assert_eq!(kind(&[cluster]), QueueType::Quorum);
        assert_eq!(kind(&[cluster, ("AMQP_QUEUE_TYPE", "classic")]), QueueType::Classic);
        assert_eq!(kind(&[("AMQP_QUEUE_TYPE", "quorum")]), QueueType::Quorum);
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        let source = HashMap::from([("JWT_SECRET_KEY", KEY), ("TRUSTED_PROXIES", " 10.0.0.1, 192.168.0.0/16 ,::1,")]);
        let proxies = Config::from_source(&source).unwrap().trusted_proxies;
        for trusted in ["10.0.0.1", "192.168.44.3", "::1"] {
            assert!(proxies.contains(trusted.parse().unwrap()), "{trusted}");
        }
        assert!(!proxies.contains("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let source =
            HashMap::from([("JWT_SECRET_KEY", KEY), ("ADMIN_USERNAME", "root"), ("ADMIN_PASSWORD", "hunter2hunter2")]);
        let shown = format!("{:?}", Config::from_source(&source).unwrap());
        assert!(!shown.contains(KEY) && !shown.contains("hunter2"));
    }

    #[test]
    fn a_sqlite_url_selects_the_embedded_mode_and_refuses_a_broker() {
        let embedded = Config::embedded_from_source(&HashMap::from([("JWT_SECRET_KEY", KEY)])).unwrap();
        assert_eq!(embedded.embedded_database(), Some(std::path::Path::new("./data/social.db")));
        let served = Config::from_source(&HashMap::from([("JWT_SECRET_KEY", KEY)])).unwrap();
        assert_eq!(served.embedded_database(), None);
        let both = HashMap::from([
            ("JWT_SECRET_KEY", KEY),
            ("DATABASE_URL", "sqlite://./x.db"),
            ("AMQP_URL", "amqp://localhost"),
        ]);
        assert_eq!(Config::from_source(&both).unwrap_err().variable, "AMQP_URL");
        let neither = HashMap::from([("JWT_SECRET_KEY", KEY), ("DATABASE_URL", "mysql://x")]);
        assert_eq!(Config::from_source(&neither).unwrap_err().variable, "DATABASE_URL");
    }
}
