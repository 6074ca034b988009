//! What both backends' activity logs share: activity noted in memory (no I/O
//! per request) and the task that writes it in batches.

use application::PortError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use uuid::Uuid;

/// How often noted activity is written.
const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// user -> latest request seen since the last flush.
#[derive(Default)]
pub(crate) struct Pending {
    seen: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl Pending {
    pub(crate) fn record(&self, user: UserId, at: DateTime<Utc>) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let latest = seen.entry(*user.as_uuid()).or_insert(at);
        *latest = (*latest).max(at);
    }

    /// Everything noted since the last call.
    pub(crate) fn take(&self) -> HashMap<Uuid, DateTime<Utc>> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Where a backend writes pending activity.
#[async_trait]
pub(crate) trait ActivityTable: Send + Sync + 'static {
    /// Writes what is pending. Users deleted meanwhile are skipped.
    async fn flush(&self) -> Result<(), PortError>;
}

/// Flushes every [`FLUSH_EVERY`]; ends when the activity log is dropped.
pub(crate) fn start_flush<T: ActivityTable>(table: &Arc<T>) {
    tokio::spawn(flush_periodically(Arc::downgrade(table)));
}

async fn flush_periodically<T: ActivityTable>(table: Weak<T>) {
    let mut ticks = tokio::time::interval(FLUSH_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(table) = table.upgrade() else { return };
        if let Err(e) = table.flush().await {
            tracing::warn!(error = %e, "could not flush activity");
        }
    }
}
