//! Webhook delivery in the embedded family: the served pipeline's queues
//! made into one SQLite table, `webhook_deliveries`.
//!
//! - Post and notification events arrive through the [`EventBus`]; each is
//!   expanded into one job per target webhook (the same rules as the served
//!   pipeline), and the jobs are committed to the table, due now, *before*
//!   the handler returns `Ok`: an event the bus counts as handled is never
//!   lost, whatever happens to the process afterwards.
//! - One worker delivers every due job. The first attempt does not wait for
//!   the poll: the handler wakes the worker once the jobs are committed, and
//!   the worker reads them back like any due job, so every attempt (first,
//!   retry, replayed) takes the one path and a job is only ever delivered
//!   from a committed row.
//! - A failed attempt puts the job off by the served schedule (`base`
//!   doubling: 1 s, 2 s, 4 s, ...); after `WEBHOOK_MAX_RETRY` attempts it
//!   moves to `dead_letters` (consumer `webhooks`) with the redacted reason,
//!   whence [`crate::persistence::sqlite::webhooks::replay_dead_letters`]
//!   brings it back. A job whose webhook or user has its share of slots in
//!   flight is put off by `base` (1 s), its attempt count unchanged.
//! - The worker sleeps until the next job is due, a handler wakes it, or
//!   [`POLL`] passes (for jobs written by another process, such as `ctl dlq
//!   replay`). A restart finds every job still in the table; one that was in
//!   flight when the process stopped is delivered again (at least once, as
//!   in the served family: receivers de-duplicate by `x-event-id`).

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};

use super::delivery::{self, AfterFailure, Deliverer, EVENTS, RETRY_BASE, WebhookTargets};
use super::{DeliveryLimits, PublicUrlGuard};
use crate::messaging::{EventBus, Handled, Handler, Message};
use crate::persistence::sqlite::Sqlite;
use crate::persistence::sqlite::webhooks::{self as table, Job};

/// The consumer's name on the bus. Not `webhooks`: events the bus itself
/// dead-letters (expansion kept failing) are events, to be republished,
/// while `dead_letters` rows of consumer `webhooks` are delivery jobs.
const PURPOSE: &str = "webhook events";
/// Events held for the handler at once.
const PREFETCH: u16 = 16;
/// Deliveries in flight at once, as the served pipeline's prefetch: only
/// jobs holding a slot stay in flight, since one without is put off at once.
const IN_FLIGHT: usize = 64;
/// The longest the worker sleeps without looking at the table.
pub const POLL: Duration = Duration::from_secs(1);
/// The pause after the database failed a job's bookkeeping, so that a
/// failing database is not hammered by the same job.
const STORAGE_PAUSE: Duration = Duration::from_secs(1);

/// The embedded pipeline, ready to [`spawn`](Self::spawn).
pub struct EmbeddedPipeline {
    inner: Inner,
    bus: Arc<dyn EventBus>,
}

struct Inner {
    db: Sqlite,
    targets: Arc<dyn WebhookTargets>,
    deliverer: Deliverer,
    max_attempts: u32,
    base: Duration,
    /// Rung by the handler once it committed jobs.
    wake: Notify,
    /// Jobs being delivered now, which the worker must not pick up again.
    busy: Mutex<HashSet<i64>>,
}

/// The running pipeline. Dropping this leaves it running.
pub struct Running {
    consumer: AbortHandle,
    worker: AbortHandle,
}

impl Running {
    /// Stops consuming and delivering at once, as a crash would: pending
    /// jobs stay in the table for the next start.
    pub fn stop(&self) {
        self.consumer.abort();
        self.worker.abort();
    }
}

impl EmbeddedPipeline {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        db: Sqlite,
        bus: Arc<dyn EventBus>,
        targets: impl WebhookTargets + 'static,
        guard: PublicUrlGuard,
        limits: DeliveryLimits,
    ) -> anyhow::Result<Self> {
        let inner = Inner {
            db,
            targets: Arc::new(targets),
            deliverer: Deliverer::new(guard, limits)?,
            max_attempts: limits.max_attempts.max(1),
            base: RETRY_BASE,
            wake: Notify::new(),
            busy: Mutex::default(),
        };
        Ok(Self { inner, bus })
    }

    /// The unit of the schedule instead of [`RETRY_BASE`] (tests: a few ms).
    #[must_use]
    pub const fn with_retry_base(mut self, base: Duration) -> Self {
        self.inner.base = base;
        self
    }

    /// Starts the event consumer and the delivery worker. The consumer
    /// acknowledges an event only once its jobs are committed.
    pub fn spawn(self) -> Running {
        let (inner, bus) = (Arc::new(self.inner), self.bus);
        let handling = Arc::clone(&inner);
        let handler: Handler = Box::new(move |message: Arc<Message>| {
            let handling = Arc::clone(&handling);
            Box::pin(async move { handling.accept(&message).await })
        });
        let consumer = tokio::spawn(async move { bus.consume(PURPOSE, &EVENTS, PREFETCH, handler).await });
        let worker = tokio::spawn(inner.work());
        Running { consumer: consumer.abort_handle(), worker: worker.abort_handle() }
    }
}

fn later(now: DateTime<Utc>, after: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(after).ok().and_then(|delta| now.checked_add_signed(delta)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Inner {
    async fn accept(&self, message: &Message) -> Handled {
        let queued = self.queue(&message.body).await?;
        if queued > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Commits the jobs an event makes; how many were new.
    async fn queue(&self, event: &[u8]) -> anyhow::Result<usize> {
        let Some(expansion) = delivery::expand(event, self.targets.as_ref()).await? else {
            return Ok(0);
        };
        Ok(table::enqueue(&self.db, &expansion, Utc::now()).await?)
    }

    fn busy(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        // The set is only inserted into and removed from: a panic elsewhere
        // cannot leave it half-changed.
        self.busy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn busy_ids(&self) -> Vec<i64> {
        self.busy().iter().copied().collect()
    }

    /// Delivers due jobs forever, up to [`IN_FLIGHT`] at once.
    async fn work(self: Arc<Self>) {
        // Owns the deliveries: aborting the worker aborts them.
        let mut running = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let busy = self.busy_ids();
            let room = IN_FLIGHT.saturating_sub(busy.len());
            let mut pause = POLL;
            if room > 0 {
                match table::due(&self.db, Utc::now(), room, busy).await {
                    Ok(jobs) => {
                        for job in jobs {
                            self.busy().insert(job.id);
                            running.spawn(Arc::clone(&self).attempt(job));
                        }
                        pause = self.until_next_due().await;
                    }
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "could not read due webhook deliveries"),
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
    }

    /// How long until a job not in flight is due, at most [`POLL`].
    async fn until_next_due(&self) -> Duration {
        match table::next_due(&self.db, self.busy_ids()).await {
            Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(POLL),
            Ok(None) => POLL,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "could not read the next webhook delivery");
                POLL
            }
        }
    }

    async fn attempt(self: Arc<Self>, job: Job) {
        if let Err(e) = self.settle(&job).await {
            // Storage trouble, not the receiver's: the job stays as it was
            // and is tried again shortly.
            tracing::warn!(error = format!("{e:#}"), job = job.id, "webhook job failed; trying again");
            tokio::time::sleep(STORAGE_PAUSE).await;
        }
        self.busy().remove(&job.id);
    }

    /// One attempt at `job`, and its outcome written to the table.
    async fn settle(&self, job: &Job) -> anyhow::Result<()> {
        let Some(webhook) = self.targets.find(job.webhook_id).await? else {
            // Deleted since (its jobs went with it; this one was in flight).
            return Ok(table::finish(&self.db, job.id).await?);
        };
        let Some(slot) = self.deliverer.slot(&webhook) else {
            return Ok(table::reschedule(&self.db, job.id, job.attempt, later(Utc::now(), self.base)).await?);
        };
        let outcome = self.deliverer.post(&webhook, &job.event_id.to_string(), &job.body).await;
        drop(slot);
        let Err(reason) = outcome else {
            return Ok(table::finish(&self.db, job.id).await?);
        };
        match delivery::failed(&webhook, job.attempt, self.max_attempts, self.base, &reason) {
            AfterFailure::Retry { attempt, after } => {
                table::reschedule(&self.db, job.id, attempt, later(Utc::now(), after)).await?;
            }
            AfterFailure::DeadLetter => table::bury(&self.db, job, &reason, Utc::now()).await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_far_due_time_saturates_instead_of_overflowing() {
        let now = Utc::now();
        assert_eq!(later(now, Duration::from_millis(1500)), now + TimeDelta::milliseconds(1500));
        assert_eq!(later(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
