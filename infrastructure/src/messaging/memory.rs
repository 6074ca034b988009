//! The in-process adapter of the [`EventBus`] port (the embedded family: one
//! process, nothing installed). Each [`EventBus::consume`] call is one
//! subscriber with its own bounded queue, standing for a RabbitMQ queue bound
//! to the same routing keys.
//!
//! - Order: [`EventBus::publish`] hands each event to every matching
//!   subscriber before the next event, so each subscriber sees publish order.
//! - Memory: a subscriber's queue holds at most `prefetch` events. When it is
//!   full, `publish` waits: the backpressure reaches the relay, whose rows stay
//!   durable (and unmarked) in the outbox meanwhile, instead of piling up here.
//! - Failures: a failed event is retried at once, up to [`MAX_ATTEMPTS`]
//!   attempts in all, then written to the `dead_letters` table. At once rather
//!   than after the events queued behind it (RabbitMQ's requeue at the end):
//!   that keeps the subscriber's order and its memory bound, and a handler here
//!   fails on what the event holds, not on a broker hiccup, so waiting would
//!   not change the outcome.
//! - Nothing outlives the process: events published while no subscriber is
//!   bound to them go nowhere, like on an exchange with no queue bound. Start
//!   the consumers before the relay.

use anyhow::bail;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{EventBus, Handler, MAX_ATTEMPTS, Message, Outgoing};
use crate::backoff::Backoff;
use crate::persistence::sqlite::Sqlite;
use crate::persistence::sqlite::dead_letters::{self, DeadLetter};

/// The event bus of one process, dead-lettering into its SQLite database.
#[derive(Clone)]
pub struct InProcessBus {
    shared: Arc<Shared>,
}

struct Shared {
    db: Sqlite,
    subscribers: Mutex<Vec<Subscriber>>,
    closed: AtomicBool,
}

struct Subscriber {
    bindings: &'static [&'static str],
    queue: mpsc::Sender<Delivery>,
}

/// One event on its way to one subscriber; the message is shared by all of them.
struct Delivery {
    id: Uuid,
    message: Arc<Message>,
}

/// Whether `error` says the database cannot serve now, rather than that the
/// event cannot be handled.
fn transient(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<application::PortError>(),
            Some(application::PortError::Unavailable(_) | application::PortError::Busy)
        )
    })
}

impl InProcessBus {
    #[must_use]
    pub fn new(db: Sqlite) -> Self {
        Self { shared: Arc::new(Shared { db, subscribers: Mutex::default(), closed: AtomicBool::new(false) }) }
    }

    /// How many consumers are bound (the wiring and tests wait for them
    /// before publishing: events nobody is bound to go nowhere).
    #[must_use]
    pub fn subscribers(&self) -> usize {
        self.subscribers_list().iter().filter(|subscriber| !subscriber.queue.is_closed()).count()
    }

    fn subscribers_list(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        // The list stays consistent whatever panicked while holding it.
        self.shared.subscribers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queues `routing_key` goes to, taken under the lock, sent to after it.
    fn queues_for(&self, routing_key: &str) -> Vec<mpsc::Sender<Delivery>> {
        let mut subscribers = self.subscribers_list();
        subscribers.retain(|subscriber| !subscriber.queue.is_closed());
        subscribers
            .iter()
            .filter(|subscriber| subscriber.bindings.iter().any(|binding| matches(binding, routing_key)))
            .map(|subscriber| subscriber.queue.clone())
            .collect()
    }

    /// Handles one event: the handler's attempts, then the dead letter. A
    /// failure because the database is momentarily unavailable or busy is no
    /// fault of the event: it is retried after a pause without counting as an
    /// attempt (the queue waits, and the relay behind it, while it lasts).
    async fn deliver(&self, purpose: &'static str, handler: &Handler, delivery: &Delivery) {
        let mut attempt: i64 = 1;
        let mut backoff = Backoff::default();
        let reason = loop {
            match handler(Arc::clone(&delivery.message)).await {
                Ok(()) => return,
                Err(error) if transient(&error) && !self.shared.closed.load(Ordering::SeqCst) => {
                    let pause = backoff.next_pause();
                    tracing::warn!(
                        purpose,
                        error = format!("{error:#}"),
                        retry_in_ms = pause.as_millis() as u64,
                        "event handling waits for the database"
                    );
                    tokio::time::sleep(pause).await;
                }
                Err(error) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(purpose, attempt, error = format!("{error:#}"), "event handling failed; retrying");
                    attempt += 1;
                }
                Err(error) => break format!("{error:#}"),
            }
        };
        tracing::error!(purpose, attempt, error = reason.as_str(), "event handling failed; dead-lettering");
        metrics::counter!("events_dead_lettered_total", "type" => delivery.message.routing_key.clone()).increment(1);
        let letter = DeadLetter {
            event_id: delivery.id,
            routing_key: delivery.message.routing_key.clone(),
            consumer: purpose.to_owned(),
            body: delivery.message.body.clone(),
            reason,
            attempts: i32::try_from(attempt).unwrap_or(i32::MAX),
        };
        // Never dropped silently: a database that refuses the dead letter
        // holds this subscriber (and, through backpressure, the relay) until
        // it takes it.
        let mut backoff = Backoff::default();
        while let Err(e) = dead_letters::record(&self.shared.db, letter.clone()).await {
            if self.shared.closed.load(Ordering::SeqCst) {
                tracing::error!(purpose, event_id = %delivery.id, error = %e, "shutting down; a dead letter is lost");
                return;
            }
            let pause = backoff.next_pause();
            tracing::warn!(purpose, error = %e, retry_in_ms = pause.as_millis() as u64, "recording a dead letter");
            tokio::time::sleep(pause).await;
        }
    }
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: &[Outgoing]) -> anyhow::Result<()> {
        for event in events {
            if self.shared.closed.load(Ordering::SeqCst) {
                bail!("the event bus is closed");
            }
            let message = Arc::new(Message { routing_key: event.routing_key.clone(), body: event.body.clone() });
            for queue in self.queues_for(&event.routing_key) {
                // A subscriber that stopped between the lookup and now has no
                // queue left to fill, like a deleted RabbitMQ queue.
                let _ = queue.send(Delivery { id: event.id, message: Arc::clone(&message) }).await;
            }
        }
        Ok(())
    }

    async fn consume(&self, purpose: &'static str, bindings: &'static [&'static str], prefetch: u16, handler: Handler) {
        let (queue, mut deliveries) = mpsc::channel(usize::from(prefetch.max(1)));
        {
            let mut subscribers = self.subscribers_list();
            if self.shared.closed.load(Ordering::SeqCst) {
                return;
            }
            subscribers.push(Subscriber { bindings, queue });
        }
        tracing::info!(purpose, "consuming in-process events");
        while let Some(delivery) = deliveries.recv().await {
            self.deliver(purpose, &handler, &delivery).await;
        }
    }

    fn is_up(&self) -> bool {
        !self.shared.closed.load(Ordering::SeqCst)
    }

    /// Stops taking events; each subscriber handles what it already holds, then ends.
    async fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.subscribers_list().clear();
    }
}

/// Whether `routing_key` matches the topic `pattern` as on a RabbitMQ topic
/// exchange: words between dots, `*` one word, `#` zero or more words.
fn matches(pattern: &str, routing_key: &str) -> bool {
    fn words(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|skipped| key.get(skipped..).is_some_and(|key| words(rest, key))),
            Some((&first, rest)) => match key.split_first() {
                Some((&word, key)) => (first == "*" || first == word) && words(rest, key),
                None => false,
            },
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    words(&pattern, &key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::sync_handler;
    use std::time::Duration;

    async fn bus() -> InProcessBus {
        let path = std::env::temp_dir().join("social-bus").join(format!("{}.db", Uuid::now_v7().simple()));
        InProcessBus::new(Sqlite::open(&path, 1).await.unwrap())
    }

    fn event(routing_key: &str, n: u32) -> Outgoing {
        Outgoing {
            id: Uuid::now_v7(),
            routing_key: routing_key.to_owned(),
            body: format!("{{\"n\":{n}}}").into_bytes(),
            created_at: chrono::Utc::now(),
            request_id: None,
        }
    }

    /// A handler that reports each body it takes, and fails whenever `fail` says so.
    fn recorder(
        fail: impl Fn(&Message) -> bool + Send + Sync + 'static,
    ) -> (Handler, mpsc::UnboundedReceiver<(String, String)>) {
        let (seen, received) = mpsc::unbounded_channel();
        let handler: Handler = sync_handler(move |message: &Message| {
            let body = String::from_utf8(message.body.clone()).unwrap();
            seen.send((message.routing_key.clone(), body)).unwrap();
            if fail(message) { Err(anyhow::anyhow!("refused {}", message.routing_key)) } else { Ok(()) }
        });
        (handler, received)
    }

    async fn subscribe(bus: &InProcessBus, purpose: &'static str, bindings: &'static [&'static str], handler: Handler) {
        let before = bus.subscribers();
        let consuming = bus.clone();
        tokio::spawn(async move { consuming.consume(purpose, bindings, 4, handler).await });
        while bus.subscribers() == before {
            tokio::task::yield_now().await;
        }
    }

    async fn next(received: &mut mpsc::UnboundedReceiver<(String, String)>) -> (String, String) {
        tokio::time::timeout(Duration::from_secs(5), received.recv()).await.unwrap().unwrap()
    }

    #[test]
    fn routing_keys_match_like_a_topic_exchange() {
        assert!(matches("post.created", "post.created"));
        assert!(!matches("post.created", "post.deleted"));
        assert!(matches("post.*", "post.deleted"));
        assert!(!matches("post.*", "post.deleted.twice"));
        assert!(matches("#", "auth.revoked"));
        assert!(matches("post.#", "post"));
        assert!(matches("*.created", "follow.created"));
        assert!(!matches("post", "post.created"));
    }

    #[test]
    fn an_unavailable_database_is_transient_and_a_bad_event_is_not() {
        let unavailable = anyhow::Error::new(application::PortError::Unavailable(anyhow::anyhow!("pool timed out")))
            .context("queueing webhook jobs");
        assert!(transient(&unavailable));
        assert!(!transient(&anyhow::anyhow!("event envelope: expected value")));
    }

    #[tokio::test]
    async fn each_subscriber_gets_its_bound_events_in_publish_order() {
        let bus = bus().await;
        let (posts, mut post_events) = recorder(|_| false);
        let (all, mut every_event) = recorder(|_| false);
        subscribe(&bus, "posts", &["post.created", "post.deleted"], posts).await;
        subscribe(&bus, "all", &["#"], all).await;
        let events: Vec<Outgoing> =
            (0..40).map(|n| event(["post.created", "follow.created", "post.deleted"][n as usize % 3], n)).collect();
        bus.publish(&events).await.unwrap();
        for (n, sent) in events.iter().enumerate() {
            let expected = (sent.routing_key.clone(), format!("{{\"n\":{n}}}"));
            assert_eq!(next(&mut every_event).await, expected);
            if sent.routing_key.starts_with("post.") {
                assert_eq!(next(&mut post_events).await, expected);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(post_events.try_recv().is_err(), "follow events are not bound to the posts subscriber");
    }

    #[tokio::test]
    async fn a_failing_event_is_retried_then_dead_lettered_and_the_next_one_goes_on() {
        let bus = bus().await;
        let (handler, mut received) = recorder(|message| message.routing_key == "post.deleted");
        subscribe(&bus, "notifier", &["post.created", "post.deleted"], handler).await;
        let poison = event("post.deleted", 1);
        bus.publish(&[poison.clone(), event("post.created", 2)]).await.unwrap();
        for _ in 0..MAX_ATTEMPTS {
            assert_eq!(next(&mut received).await.0, "post.deleted");
        }
        assert_eq!(next(&mut received).await.1, "{\"n\":2}", "the next event once the failed one is buried");
        let letters = dead_letters::list(&bus.shared.db).await.unwrap();
        assert_eq!(
            letters,
            vec![DeadLetter {
                event_id: poison.id,
                routing_key: "post.deleted".into(),
                consumer: "notifier".into(),
                body: poison.body,
                reason: "refused post.deleted".into(),
                attempts: 3,
            }]
        );
    }

    #[tokio::test]
    async fn a_failure_that_passes_is_not_dead_lettered() {
        let bus = bus().await;
        let failed_once = AtomicBool::new(false);
        let (handler, mut received) = recorder(move |_| !failed_once.swap(true, Ordering::SeqCst));
        subscribe(&bus, "revocations", &["auth.revoked"], handler).await;
        bus.publish(&[event("auth.revoked", 1), event("auth.revoked", 2)]).await.unwrap();
        let bodies: Vec<String> = [next(&mut received).await, next(&mut received).await, next(&mut received).await]
            .into_iter()
            .map(|(_, body)| body)
            .collect();
        assert_eq!(bodies, ["{\"n\":1}", "{\"n\":1}", "{\"n\":2}"]);
        assert!(dead_letters::list(&bus.shared.db).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_full_subscriber_holds_the_publisher_back() {
        let bus = bus().await;
        let (handler, mut received) = recorder(|_| false);
        // Bound to its queue of one event, but not yet taking any.
        let mut consuming = std::pin::pin!(bus.consume("slow", &["post.created"], 1, handler));
        assert!(futures::poll!(consuming.as_mut()).is_pending());
        assert_eq!(bus.subscribers(), 1);
        let publisher = bus.clone();
        let events: Vec<Outgoing> = (0..3).map(|n| event("post.created", n)).collect();
        let publishing = tokio::spawn(async move { publisher.publish(&events).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!publishing.is_finished(), "publish waits while the subscriber's queue is full");
        assert!(received.try_recv().is_err());
        let taking = async {
            publishing.await.unwrap().unwrap();
            for n in 0..3 {
                assert_eq!(next(&mut received).await.1, format!("{{\"n\":{n}}}"));
            }
        };
        tokio::select! {
            () = consuming => unreachable!("consume returns only once the bus closed"),
            () = taking => {}
        }
    }

    #[tokio::test]
    async fn a_closed_bus_refuses_events_and_ends_its_consumers() {
        let bus = bus().await;
        let (handler, _received) = recorder(|_| false);
        let consumer = bus.clone();
        let consuming = tokio::spawn(async move { consumer.consume("any", &["#"], 4, handler).await });
        while bus.subscribers() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(bus.is_up());
        bus.close().await;
        assert!(!bus.is_up());
        assert!(bus.publish(&[event("post.created", 1)]).await.is_err());
        tokio::time::timeout(Duration::from_secs(5), consuming).await.unwrap().unwrap();
    }
}
