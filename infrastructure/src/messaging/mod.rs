//! The event bus (the [`EventBus`] port) and its adapters: RabbitMQ through
//! lapin ([`Broker`]: topology, confirmed publishing, consumers with bounded
//! retries and a dead-letter queue) and the in-process bus of the embedded
//! family ([`InProcessBus`]); and the outbox relay that feeds either.

mod bus;
mod consumer;
pub mod memory;
mod publisher;
mod queues;
pub mod relay;

pub use bus::{EventBus, Handler, Message, Outgoing, sync_handler};
pub use consumer::{Handled, MAX_ATTEMPTS, QUEUE_EXPIRES_MS};
pub use memory::InProcessBus;
pub use queues::QueueType;
pub use relay::{Backlog, Leading, OutboxSource, Pending, Relay};

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::backoff::Backoff;

/// Where events go: the broker's nodes and the name of the topic exchange.
#[derive(Clone)]
pub struct Broker {
    /// The nodes of a cluster (one URL, or several separated by commas), tried
    /// in turn from the one that answered last.
    nodes: Arc<[SecretString]>,
    /// The node to try first.
    current: Arc<AtomicUsize>,
    exchange: String,
    /// The kind of the durable queues declared here.
    queue_type: QueueType,
    /// Whether the last connection attempt of this process succeeded and is still up.
    up: Arc<AtomicBool>,
    /// Every connection this process holds open, so that shutting down can
    /// close them cleanly instead of cancelling lapin's I/O tasks mid-flight.
    open: Arc<Mutex<Open>>,
    next_id: Arc<AtomicU64>,
    /// Set once the process is shutting down: nobody reconnects after that.
    closing: Arc<AtomicBool>,
    /// The queues this process's consumers declared (they expire on their
    /// own once unused; tests delete theirs at once).
    queues: Arc<Mutex<Vec<String>>>,
    /// The confirming channel events are published on, once connected.
    publisher: Arc<tokio::sync::Mutex<Option<publisher::Publisher>>>,
}

/// A connection held open for its user; dropping it closes the connection.
pub struct Connected {
    id: u64,
    connection: Arc<Connection>,
    open: Arc<Mutex<Open>>,
}

impl Connected {
    /// The connection itself, for another channel (after a refused declare closed one).
    fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        lock(&self.open).retain(|(id, _)| *id != self.id);
    }
}

type Open = Vec<(u64, Arc<Connection>)>;

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    // The list stays consistent whatever panicked while holding it.
    open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The node URLs of an `AMQP_URL`: comma-separated, blanks ignored.
pub fn node_urls(urls: &str) -> impl Iterator<Item = &str> {
    urls.split(',').map(str::trim).filter(|url| !url.is_empty())
}

/// How long shutting down waits for the broker to acknowledge a close.
const CLOSE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

impl Broker {
    /// `urls`: one AMQP URL, or the URLs of a cluster's nodes separated by
    /// commas. Queues are quorum queues for a cluster, classic for one node
    /// ([`QueueType::for_nodes`]) unless [`Broker::with_queue_type`] says otherwise.
    #[must_use]
    pub fn new(urls: SecretString, exchange: &str) -> Self {
        let nodes: Vec<SecretString> = node_urls(urls.expose_secret()).map(SecretString::from).collect();
        Self {
            queue_type: QueueType::for_nodes(nodes.len()),
            nodes: nodes.into(),
            current: Arc::default(),
            exchange: exchange.to_owned(),
            up: Arc::default(),
            open: Arc::default(),
            next_id: Arc::default(),
            closing: Arc::default(),
            queues: Arc::default(),
            publisher: Arc::default(),
        }
    }

    /// A connection to the first node that answers, starting with the one
    /// that answered last; the last node's error when none does.
    ///
    /// # Errors
    /// When no node accepts a connection.
    pub async fn open(&self) -> lapin::Result<Connection> {
        let first = self.current.load(Ordering::Relaxed);
        let mut failure = None;
        for offset in 0..self.nodes.len() {
            let index = (first + offset) % self.nodes.len();
            match Connection::connect(self.nodes[index].expose_secret(), ConnectionProperties::default()).await {
                Ok(connection) => {
                    if offset > 0 {
                        tracing::info!(node = index, "connected to another RabbitMQ node");
                    }
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(connection);
                }
                Err(e) => failure = Some(e),
            }
        }
        // No failure means no node at all: the configuration refuses that.
        Err(failure.unwrap_or_else(|| lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed).into()))
    }

    /// The same broker declaring its queues as `kind` (`AMQP_QUEUE_TYPE`).
    #[must_use]
    pub fn with_queue_type(self, kind: QueueType) -> Self {
        Self { queue_type: kind, ..self }
    }

    #[must_use]
    pub const fn queue_type(&self) -> QueueType {
        self.queue_type
    }

    #[must_use]
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// Where messages go after their last failed attempt.
    #[must_use]
    pub fn dead_letters(&self) -> String {
        format!("{}.dead", self.exchange)
    }

    /// The queues declared by this broker's consumers so far.
    #[must_use]
    pub fn consumer_queues(&self) -> Vec<String> {
        self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether a connection to the broker is up (for readiness).
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub(crate) fn mark(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Connects, retrying with backoff until it works, and declares the
    /// topology (idempotently) on a fresh channel. The caller marks the broker
    /// up once its own set-up (confirms, consumer) is done, and keeps the
    /// [`Connected`] as long as it uses the channel. Once [`Broker::close`] has
    /// been called this never returns: the process is ending.
    pub async fn connect(&self, purpose: &'static str) -> (Connected, Channel) {
        let mut backoff = Backoff::default();
        loop {
            if self.closing.load(Ordering::SeqCst) {
                return std::future::pending().await;
            }
            match self.try_connect().await {
                Ok((connection, channel)) => {
                    tracing::info!(purpose, "connected to RabbitMQ");
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let connection = Arc::new(connection);
                    lock(&self.open).push((id, Arc::clone(&connection)));
                    return (Connected { id, connection, open: Arc::clone(&self.open) }, channel);
                }
                Err(e) => {
                    self.mark(false);
                    let pause = backoff.next_pause();
                    tracing::warn!(purpose, error = %e, retry_in_ms = pause.as_millis() as u64, "RabbitMQ not reachable");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// Closes every connection of this process and stops reconnecting: the
    /// last step of a graceful shutdown, after the servers have stopped.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.mark(false);
        let connections: Vec<Arc<Connection>> = lock(&self.open).drain(..).map(|(_, connection)| connection).collect();
        for connection in connections {
            match tokio::time::timeout(CLOSE_PATIENCE, connection.close(200, "shutting down".into())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "closing a broker connection"),
                Err(_) => tracing::warn!("the broker did not acknowledge a close in time"),
            }
        }
    }

    /// Declares the durable queue `name` with `arguments`, as this broker's
    /// kind, on `channel` of `connected`; the channel to go on with (a new one
    /// when the queue exists as another kind, see [`QueueType`]).
    pub(crate) async fn declare_queue(
        &self,
        connected: &Connected,
        channel: Channel,
        name: &str,
        arguments: FieldTable,
    ) -> lapin::Result<Channel> {
        queues::declare_durable(connected.connection(), channel, name, self.queue_type, arguments).await
    }

    async fn try_connect(&self) -> lapin::Result<(Connection, Channel)> {
        let connection = self.open().await?;
        let channel = connection.create_channel().await?;
        let channel = self.declare(&connection, channel).await?;
        Ok((connection, channel))
    }

    /// The events exchange, and the dead-letter exchange with its queue; the
    /// channel to go on with (a new one if the queue's declare was refused).
    async fn declare(&self, connection: &Connection, channel: Channel) -> lapin::Result<Channel> {
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare(self.exchange.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default())
            .await?;
        let dead = self.dead_letters();
        channel.exchange_declare(dead.as_str().into(), ExchangeKind::Fanout, durable, FieldTable::default()).await?;
        let channel =
            queues::declare_durable(connection, channel, &dead, self.queue_type, FieldTable::default()).await?;
        channel
            .queue_bind(
                dead.as_str().into(),
                dead.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(channel)
    }
}
