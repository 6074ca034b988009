//! The event-bus port: how outbox events travel from the relay to the
//! consumers of every process. Two adapters: RabbitMQ (the served family:
//! many processes) and the in-process bus (the embedded family: one process).
//!
//! The contract both keep: events of one publisher arrive in publish order;
//! delivery is at least once (consumers de-duplicate by event id); a handler
//! that fails is retried up to [`super::MAX_ATTEMPTS`] times in all, then the
//! event is dead-lettered, never dropped silently.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::sync::Arc;
use uuid::Uuid;

use super::Handled;

/// One outbox event on its way to the bus.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: Uuid,
    /// The event type, which is also its routing key.
    pub routing_key: String,
    /// The JSON envelope, exactly as consumers will receive it.
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// The id of the request that caused the event, for tracing.
    pub request_id: Option<String>,
}

/// One event as a consumer receives it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The event type, which is also its routing key.
    pub routing_key: String,
    /// The JSON envelope as published.
    pub body: Vec<u8>,
}

/// What a consumer does with each event it is bound to. Asynchronous, so a
/// handler that must store something (the embedded webhook pipeline commits
/// its jobs before it acknowledges) awaits instead of blocking a thread.
pub type Handler = Box<dyn Fn(Arc<Message>) -> BoxFuture<'static, Handled> + Send + Sync>;

/// A handler whose work is synchronous and quick (map lookups, a cache update).
pub fn sync_handler(handle: impl Fn(&Message) -> Handled + Send + Sync + 'static) -> Handler {
    Box::new(move |message| Box::pin(std::future::ready(handle(&message))))
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync {
    /// Waits until the bus can take events (RabbitMQ: connected, with
    /// publisher confirms on). The relay calls it before it takes the
    /// publisher role, so that a process which cannot reach the bus never
    /// holds that role while another one that can stands by.
    async fn ready(&self) {}

    /// Publishes `events` in order and returns once the bus holds every one
    /// of them (RabbitMQ: confirmed). On an error none of them may be counted
    /// as published: the relay publishes the batch again.
    async fn publish(&self, events: &[Outgoing]) -> anyhow::Result<()>;

    /// Hands every event whose routing key is in `bindings` to `handler`, in
    /// publish order, until the process ends, with at most `prefetch`
    /// unhandled events held for it. Never returns on its own: run it in a task.
    async fn consume(&self, purpose: &'static str, bindings: &'static [&'static str], prefetch: u16, handler: Handler);

    /// Whether the bus can take events now (for readiness).
    fn is_up(&self) -> bool;

    /// Stops delivering and closes connections: the last step of a shutdown.
    async fn close(&self);
}
