//! What webhook registration needs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::UserId;
use uuid::Uuid;

use crate::PortError;

/// A registered webhook. `secret` signs deliveries (HMAC-SHA256).
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    pub owner: UserId,
    pub url: String,
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The query and fragment often carry the receiver's token: not for logs.
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        f.debug_struct("Webhook").field("id", &self.id).field("url", &url).finish_non_exhaustive()
    }
}

/// Storage of webhooks.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Stores a webhook for `owner` with a fresh random secret, unless `owner`
    /// already has `limit` webhooks: then `None`. The count and the insert
    /// MUST be atomic with respect to concurrent calls for the same owner, so
    /// that simultaneous registrations cannot together exceed `limit`.
    ///
    /// # Errors
    /// `PortError::Unavailable` when storage is unreachable, else `PortError::Unknown`.
    async fn create(
        &self,
        owner: UserId,
        url: &str,
        at: DateTime<Utc>,
        limit: usize,
    ) -> Result<Option<Webhook>, PortError>;

    /// # Errors
    /// Only `PortError::Unknown`.
    async fn list(&self, owner: UserId) -> Result<Vec<Webhook>, PortError>;

    /// `false` if `owner` has no webhook `id`.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn delete(&self, owner: UserId, id: Uuid) -> Result<bool, PortError>;
}

/// Decides whether a URL may receive deliveries.
#[async_trait]
pub trait UrlGuard: Send + Sync {
    /// # Errors
    /// The reason, for a URL that MUST NOT be called: unparseable, not http(s),
    /// or resolving to a loopback, private, link-local or otherwise internal
    /// address (unless the deployment allows private targets). A host that
    /// does not resolve MUST get the same reason as an internal one, and no
    /// reason may depend on anything but the URL's text and that one outcome,
    /// so registration cannot be used to probe the network or its DNS.
    async fn check(&self, url: &str) -> Result<(), String>;
}
