use domain::Notification;
use std::sync::Arc;
use uuid::Uuid;

use super::ports::NotificationRepository;
use crate::ApplicationError;
use crate::paging::{Page, PageRequest};
use crate::ports::AccessClaims;

/// The caller's notifications and their read marker.
pub struct NotificationService {
    notifications: Arc<dyn NotificationRepository>,
}

impl NotificationService {
    #[must_use]
    pub fn new(notifications: Arc<dyn NotificationRepository>) -> Self {
        Self { notifications }
    }

    /// # Errors
    /// `Unknown` when storage fails.
    pub async fn list(&self, caller: &AccessClaims, page: PageRequest) -> Result<Page<Notification>, ApplicationError> {
        Ok(self.notifications.list(caller.user_id, page).await?)
    }

    /// # Errors
    /// `Unknown` when storage fails.
    pub async fn unread_count(&self, caller: &AccessClaims) -> Result<u64, ApplicationError> {
        Ok(self.notifications.unread_count(caller.user_id).await?)
    }

    /// Marks `up_to` and everything older read. The marker never moves back.
    ///
    /// # Errors
    /// `Unknown` when storage fails.
    pub async fn mark_read(&self, caller: &AccessClaims, up_to: Uuid) -> Result<(), ApplicationError> {
        Ok(self.notifications.mark_read(caller.user_id, up_to).await?)
    }
}
