//! RabbitMQ through lapin: topology, the outbox relay, and consumers with
//! bounded retries and a dead-letter queue.

mod consumer;
mod relay;

pub use consumer::{Handled, MAX_ATTEMPTS, consume};
pub use relay::Relay;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::backoff::Backoff;

/// Where events go: the broker and the name of the topic exchange.
#[derive(Clone)]
pub struct Broker {
    url: SecretString,
    exchange: String,
    /// Whether the last connection attempt of this process succeeded and is still up.
    up: Arc<AtomicBool>,
}

impl Broker {
    #[must_use]
    pub fn new(url: SecretString, exchange: &str) -> Self {
        Self { url, exchange: exchange.to_owned(), up: Arc::default() }
    }

    /// The broker URL, for commands that connect on their own.
    #[must_use]
    pub fn url(&self) -> &str {
        self.url.expose_secret()
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

    /// Whether a connection to the broker is up (for readiness).
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub(crate) fn mark(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Connects, retrying with exponential backoff until it works, and
    /// declares the topology (idempotently) on a fresh channel. The caller
    /// marks the broker up once its own set-up (confirms, consumer) is done.
    pub async fn connect(&self, purpose: &'static str) -> (Connection, Channel) {
        let mut backoff = Backoff::default();
        loop {
            match self.try_connect().await {
                Ok(connected) => {
                    tracing::info!(purpose, "connected to RabbitMQ");
                    return connected;
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

    async fn try_connect(&self) -> lapin::Result<(Connection, Channel)> {
        let connection = Connection::connect(self.url.expose_secret(), ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        self.declare(&channel).await?;
        Ok((connection, channel))
    }

    /// The events exchange, and the dead-letter exchange with its queue.
    async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare(self.exchange.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default())
            .await?;
        let dead = self.dead_letters();
        channel.exchange_declare(dead.as_str().into(), ExchangeKind::Fanout, durable, FieldTable::default()).await?;
        let queue = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        channel.queue_declare(dead.as_str().into(), queue, FieldTable::default()).await?;
        channel
            .queue_bind(
                dead.as_str().into(),
                dead.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }
}
