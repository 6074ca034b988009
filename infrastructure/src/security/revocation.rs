//! The revocation list: durable in the database, answered from memory.

use application::PortError;
use application::ports::{AccessClaims, RevocationList};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::UserId;
use shaku::Component;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;
use uuid::Uuid;

use crate::events::EventData;

/// How often expired revocations are forgotten.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// How often each instance reads the revocations others wrote: the bound on a
/// revoked token's life elsewhere while the broker is down (events carry them
/// within milliseconds otherwise).
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How far back each look reaches before the previous one.
const POLL_OVERLAP: chrono::Duration = chrono::Duration::seconds(5);

/// What is revoked right now: token ids and user ids, each with its expiry.
#[derive(Debug, Default)]
pub struct RevokedSnapshot {
    pub tokens: Vec<(Uuid, DateTime<Utc>)>,
    pub users: Vec<(Uuid, DateTime<Utc>)>,
}

/// Where revocations are kept durably (one per database family). Each write
/// also appends an outbox event in the same transaction, so that every other
/// consumer learns of it.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Revokes one access token until `expires_at`.
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure.
    async fn save_token(&self, jti: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError>;

    /// Revokes every token of `user_id` until `expires_at` (a second
    /// revocation of the same user moves the expiry and the write time).
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure.
    async fn save_user(&self, user_id: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError>;

    /// Every revocation still in force at `now`.
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure.
    async fn load_live(&self, now: DateTime<Utc>) -> Result<RevokedSnapshot, PortError>;

    /// The revocations written at or after `since` (by the store's clock),
    /// with the store's time now, to pass as `since` next time.
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure.
    async fn written_since(&self, since: DateTime<Utc>) -> Result<(RevokedSnapshot, DateTime<Utc>), PortError>;

    /// Forgets revocations whose tokens have all expired at `now`.
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<(), PortError>;
}

#[derive(Default)]
struct Revoked {
    tokens: HashMap<Uuid, DateTime<Utc>>,
    users: HashMap<Uuid, DateTime<Utc>>,
}

/// The cache's state, shared with its purge task.
pub struct Shared {
    store: Arc<dyn RevocationStore>,
    revoked: RwLock<Revoked>,
}

/// Writes go to the database first, then to memory; checks read memory only, so an
/// authenticated request costs no query. Loaded from the database at start-up.
#[derive(Component, Clone)]
#[shaku(interface = crate::di::RevocationListPort)]
pub struct RevocationCache {
    shared: Arc<Shared>,
}

impl RevocationCache {
    /// Builds the cache from every revocation still in force, and starts the
    /// task that reads new ones every second and forgets expired ones (it ends
    /// when the cache is dropped).
    ///
    /// # Errors
    /// `PortError::Unknown` if the revocations cannot be read.
    pub async fn load(store: impl RevocationStore + 'static) -> Result<Self, PortError> {
        Self::load_shared(Arc::new(store)).await
    }

    /// [`RevocationCache::load`] from a store already behind an `Arc`.
    ///
    /// # Errors
    /// `PortError::Unknown` if the revocations cannot be read.
    pub async fn load_shared(store: Arc<dyn RevocationStore>) -> Result<Self, PortError> {
        let snapshot = store.load_live(Utc::now()).await?;
        let revoked =
            Revoked { tokens: snapshot.tokens.into_iter().collect(), users: snapshot.users.into_iter().collect() };
        tracing::info!(tokens = revoked.tokens.len(), users = revoked.users.len(), "loaded revocations");
        let shared = Arc::new(Shared { store, revoked: RwLock::new(revoked) });
        tokio::spawn(maintain(Arc::downgrade(&shared)));
        Ok(Self { shared })
    }
}

impl RevocationCache {
    /// Applies a revocation made by another instance (it is already stored).
    ///
    /// # Errors
    /// When the event is not a revocation.
    pub fn apply_event(&self, event: &EventData) -> anyhow::Result<()> {
        match *event {
            EventData::AuthRevoked { token_id, expires_at } => self.shared.write(|r| {
                r.tokens.insert(token_id, expires_at);
            }),
            EventData::UserDeleted { user_id, expires_at } => self.shared.write(|r| {
                r.users.insert(user_id, expires_at);
            }),
            _ => anyhow::bail!("not a revocation: {}", event.type_name()),
        }
        Ok(())
    }
}

/// Keeps the cache current without the broker: reads the revocations written
/// since the last look every [`POLL_EVERY`], and forgets expired ones every
/// [`PURGE_EVERY`]. Ends when the cache is dropped.
async fn maintain(shared: Weak<Shared>) {
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watermark = Utc::now();
    let mut last_purge = tokio::time::Instant::now();
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        // Overlapping looks: a revocation committed a little after the time it
        // was stamped with is still seen.
        match shared.store.written_since(watermark - POLL_OVERLAP).await {
            Ok((fresh, now)) => {
                shared.write(|r| {
                    r.tokens.extend(fresh.tokens);
                    r.users.extend(fresh.users);
                });
                watermark = now;
            }
            Err(e) => tracing::debug!(error = %e, "could not read new revocations"),
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = tokio::time::Instant::now();
            let now = Utc::now();
            shared.write(|r| {
                r.tokens.retain(|_, expires| *expires > now);
                r.users.retain(|_, expires| *expires > now);
            });
            if let Err(e) = shared.store.purge_expired(now).await {
                tracing::warn!(error = %e, "could not purge expired revocations");
            }
        }
    }
}

impl Shared {
    fn write(&self, change: impl FnOnce(&mut Revoked)) {
        // A panic elsewhere while holding the lock leaves the maps intact: keep using them.
        change(&mut self.revoked.write().unwrap_or_else(PoisonError::into_inner));
    }
}

#[async_trait]
impl RevocationList for RevocationCache {
    async fn revoke_token(&self, token_id: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError> {
        self.shared.store.save_token(token_id, expires_at).await?;
        self.shared.write(|r| {
            r.tokens.insert(token_id, expires_at);
        });
        Ok(())
    }

    async fn revoke_user(&self, user_id: UserId, until: DateTime<Utc>) -> Result<(), PortError> {
        self.shared.store.save_user(*user_id.as_uuid(), until).await?;
        self.shared.write(|r| {
            r.users.insert(*user_id.as_uuid(), until);
        });
        Ok(())
    }

    fn is_revoked(&self, claims: &AccessClaims) -> bool {
        let revoked = self.shared.revoked.read().unwrap_or_else(PoisonError::into_inner);
        revoked.tokens.contains_key(&claims.token_id) || revoked.users.contains_key(claims.user_id.as_uuid())
    }
}
