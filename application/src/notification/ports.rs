//! What the notification use cases need from persistence.

use async_trait::async_trait;
use domain::{Notification, UserId};
use uuid::Uuid;

use crate::PortError;
use crate::paging::{Page, PageRequest};

/// Storage of notifications and each user's read marker.
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn list(&self, recipient: UserId, page: PageRequest) -> Result<Page<Notification>, PortError>;

    /// Notifications newer than the read marker.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn unread_count(&self, recipient: UserId) -> Result<u64, PortError>;

    /// Moves the read marker to `up_to` unless it is already past it.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn mark_read(&self, recipient: UserId, up_to: Uuid) -> Result<(), PortError>;
}
