//! The RabbitMQ adapter of the [`EventBus`] port: events go to the topic
//! exchange on one confirming channel; consumers are [`super::consumer`]'s.

use anyhow::{Context, bail};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use std::collections::BTreeMap;

use super::{Broker, Connected, EventBus, Handler, Outgoing, consumer};
use crate::backoff::Backoff;

/// The channel events are published on, with publisher confirms on.
pub(super) struct Publisher {
    _connection: Connected,
    channel: Channel,
}

impl Broker {
    /// Makes `slot` hold a connected confirming channel, connecting with
    /// backoff for as long as it takes.
    async fn ensure_publisher(&self, slot: &mut Option<Publisher>) {
        if slot.as_ref().is_some_and(|publisher| publisher.channel.status().connected()) {
            return;
        }
        *slot = None;
        let mut backoff = Backoff::default();
        loop {
            let (connection, channel) = self.connect("outbox relay").await;
            match channel.confirm_select(ConfirmSelectOptions::default()).await {
                Ok(()) => {
                    self.mark(true);
                    *slot = Some(Publisher { _connection: connection, channel });
                    return;
                }
                Err(e) => {
                    let pause = backoff.next_pause();
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "enabling publisher confirms");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl EventBus for Broker {
    async fn ready(&self) {
        let mut slot = self.publisher.lock().await;
        self.ensure_publisher(&mut slot).await;
    }

    /// Publishes on the channel [`EventBus::ready`] opened and fails at once
    /// when it is gone, instead of waiting for the broker: the relay then lets
    /// go of its role (and, on PostgreSQL, of its lock) before reconnecting.
    async fn publish(&self, events: &[Outgoing]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut slot = self.publisher.lock().await;
        let outcome = match slot.as_ref().filter(|publisher| publisher.channel.status().connected()) {
            Some(publisher) => send(&publisher.channel, self.exchange(), events).await,
            None => Err(anyhow::anyhow!("the broker connection closed")),
        };
        if outcome.is_err() {
            // A channel that failed a publish is not trusted again.
            *slot = None;
            self.mark(false);
        }
        outcome
    }

    async fn consume(&self, purpose: &'static str, bindings: &'static [&'static str], prefetch: u16, handler: Handler) {
        consumer::consume(self.clone(), purpose, bindings, prefetch, handler).await;
    }

    fn is_up(&self) -> bool {
        Self::is_up(self)
    }

    async fn close(&self) {
        Self::close(self).await;
    }
}

/// Publishes every event, then waits for every confirm: one round trip per
/// batch rather than per event.
async fn send(channel: &Channel, exchange: &str, events: &[Outgoing]) -> anyhow::Result<()> {
    let mut confirms = Vec::with_capacity(events.len());
    for event in events {
        let mut headers = BTreeMap::new();
        if let Some(request_id) = &event.request_id {
            headers.insert(ShortString::from("x-request-id"), AMQPValue::LongString(request_id.as_str().into()));
        }
        let properties = BasicProperties::default()
            .with_message_id(event.id.to_string().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_timestamp(u64::try_from(event.created_at.timestamp()).unwrap_or(0))
            .with_headers(FieldTable::from(headers));
        let confirm = channel
            .basic_publish(
                exchange.into(),
                event.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &event.body,
                properties,
            )
            .await
            .context("publishing an event")?;
        confirms.push((event.id, confirm));
    }
    for (id, confirm) in confirms {
        if !confirm.await.context("waiting for a publisher confirm")?.is_ack() {
            bail!("the broker refused event {id}");
        }
    }
    Ok(())
}
