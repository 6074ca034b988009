use std::sync::Arc;
use uuid::Uuid;

use super::ports::{UrlGuard, Webhook, WebhookRepository};
use crate::ApplicationError;
use crate::ports::{AccessClaims, Clock};

/// Webhooks one user may register.
pub const MAX_WEBHOOKS: usize = 10;

/// Registering, listing and removing the caller's webhooks.
pub struct WebhookService {
    webhooks: Arc<dyn WebhookRepository>,
    guard: Arc<dyn UrlGuard>,
    clock: Arc<dyn Clock>,
}

impl WebhookService {
    #[must_use]
    pub fn new(webhooks: Arc<dyn WebhookRepository>, guard: Arc<dyn UrlGuard>, clock: Arc<dyn Clock>) -> Self {
        Self { webhooks, guard, clock }
    }

    /// # Errors
    /// `Validation` on `url` when the guard refuses it or the caller already
    /// has 10 webhooks, or `Unknown`.
    pub async fn create(&self, caller: &AccessClaims, url: &str) -> Result<Webhook, ApplicationError> {
        self.guard.check(url).await.map_err(|why| ApplicationError::invalid("url", why))?;
        self.webhooks
            .create(caller.user_id, url, self.clock.now(), MAX_WEBHOOKS)
            .await?
            .ok_or_else(|| ApplicationError::invalid("url", format!("at most {MAX_WEBHOOKS} webhooks per user")))
    }

    /// # Errors
    /// `Unknown` when storage fails.
    pub async fn list(&self, caller: &AccessClaims) -> Result<Vec<Webhook>, ApplicationError> {
        Ok(self.webhooks.list(caller.user_id).await?)
    }

    /// # Errors
    /// `NotFound("webhook")` unless the caller owns it, or `Unknown`.
    pub async fn delete(&self, caller: &AccessClaims, id: Uuid) -> Result<(), ApplicationError> {
        if self.webhooks.delete(caller.user_id, id).await? {
            Ok(())
        } else {
            Err(ApplicationError::NotFound("webhook"))
        }
    }
}
