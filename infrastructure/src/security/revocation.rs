//! The revocation list: durable in PostgreSQL, answered from memory.

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
use crate::persistence::PgRevocationStore;

/// How often expired revocations are forgotten.
const PURGE_EVERY: Duration = Duration::from_secs(600);

#[derive(Default)]
struct Revoked {
    tokens: HashMap<Uuid, DateTime<Utc>>,
    users: HashMap<Uuid, DateTime<Utc>>,
}

/// The cache's state, shared with its purge task.
pub struct Shared {
    store: PgRevocationStore,
    revoked: RwLock<Revoked>,
}

/// Writes go to PostgreSQL first, then to memory; checks read memory only, so an
/// authenticated request costs no query. Loaded from the database at start-up.
#[derive(Component, Clone)]
#[shaku(interface = crate::di::RevocationListPort)]
pub struct RevocationCache {
    shared: Arc<Shared>,
}

impl RevocationCache {
    /// Builds the cache from every revocation still in force, and starts the
    /// task that forgets expired ones (it ends when the cache is dropped).
    ///
    /// # Errors
    /// `PortError::Unknown` if the revocations cannot be read.
    pub async fn load(store: PgRevocationStore) -> Result<Self, PortError> {
        let snapshot = store.load_live(Utc::now()).await?;
        let revoked =
            Revoked { tokens: snapshot.tokens.into_iter().collect(), users: snapshot.users.into_iter().collect() };
        tracing::info!(tokens = revoked.tokens.len(), users = revoked.users.len(), "loaded revocations");
        let shared = Arc::new(Shared { store, revoked: RwLock::new(revoked) });
        tokio::spawn(purge_periodically(Arc::downgrade(&shared)));
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

async fn purge_periodically(shared: Weak<Shared>) {
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
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
