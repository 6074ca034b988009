//! Webhook delivery: events become signed HTTP POSTs, retried with growing
//! delays through TTL queues, then dead-lettered.
//!
//! Queues, all durable and shared by every api instance (competing consumers):
//! - `<exchange>.webhooks.events`: post and notification events, expanded
//!   into one job per target webhook;
//! - `<exchange>.webhooks.deliver`: jobs; a failed job goes to
//! - `<exchange>.webhooks.retry.<n>`: waits `2^(n-1)` s, then dead-letters
//!   back to `deliver`; after `WEBHOOK_MAX_RETRY` attempts a job goes to
//! - `<exchange>.webhooks.dead`, whence `ctl dlq replay` republishes it.
//! - `<exchange>.webhooks.wait`: a job whose webhook or user already has
//!   its share of deliveries in flight waits there 1 s, then goes back to
//!   `deliver`, with its attempt count unchanged.
//!
//! The embedded family does the same with a SQLite table ([`embedded`]);
//! what both do alike (targets, body, signature, retry schedule) is in
//! [`delivery`].

mod delivery;
pub mod embedded;
mod guard;
mod slots;

pub use delivery::{
    AfterFailure, Audience, EVENTS, Expansion, RETRY_BASE, WebhookTargets, after_failure, expand, retry_delay,
    signature,
};
pub use embedded::{EmbeddedPipeline, Running};
pub use guard::{PublicUrlGuard, PublicUrlGuardParameters};

use anyhow::anyhow;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueBindOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, PublisherConfirm};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::messaging::{Broker, Connected};
use delivery::{Deliverer, Planned};

const WEBHOOK_ID: &str = "x-webhook-id";
const EVENT_ID: &str = "x-event-id";
const ATTEMPT: &str = "x-attempt";
/// Events received and not yet expanded per consumer: the largest batch.
const PREFETCH: u16 = 64;
/// Deliveries in flight per api instance. Larger than the per-user share
/// times a few users: only jobs holding a slot occupy it, since a job with
/// no slot is put off at once.
const DELIVER_PREFETCH: u16 = 64;
/// How many deliveries may be in flight at once, and how often one is tried.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryLimits {
    /// Attempts before a delivery is dead-lettered (`WEBHOOK_MAX_RETRY`).
    pub max_attempts: u32,
    /// To one webhook (`WEBHOOK_PER_TARGET`, default 2): a receiver that never
    /// answers holds that many slots for [`delivery::TIMEOUT`], and a healthy one is not
    /// serialised behind a single slow request.
    pub per_webhook: usize,
    /// For one user's webhooks together (`WEBHOOK_PER_USER`, default 4): one
    /// user's tarpits cannot take more than this many slots.
    pub per_user: usize,
}

/// Publishes a persistent message to queue `to` (through the default
/// exchange); answers the broker's confirmation to come.
async fn send(
    channel: &Channel,
    to: &str,
    body: &[u8],
    headers: BTreeMap<ShortString, AMQPValue>,
    event: &str,
) -> lapin::Result<PublisherConfirm> {
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(event.into())
        .with_headers(FieldTable::from(headers));
    channel.basic_publish("".into(), to.into(), BasicPublishOptions::default(), body, properties).await
}

async fn confirmed(confirm: PublisherConfirm) -> anyhow::Result<()> {
    if confirm.await?.is_ack() { Ok(()) } else { Err(anyhow!("the broker refused a webhook job")) }
}

fn queue(broker: &Broker, name: &str) -> String {
    format!("{}.webhooks.{name}", broker.exchange())
}

/// The dead-letter queue of webhook jobs.
#[must_use]
pub fn dead_letters(broker: &Broker) -> String {
    queue(broker, "dead")
}

/// How long a job waits in `retry.<attempt>` before its `attempt + 1`-th try.
fn delay_ms(attempt: u32) -> i64 {
    i64::try_from(retry_delay(attempt, RETRY_BASE).as_millis()).unwrap_or(i64::MAX)
}

fn header<'a>(delivery: &'a Delivery, name: &str) -> Option<&'a AMQPValue> {
    delivery.properties.headers().as_ref().and_then(|h| h.inner().get(name))
}

fn text_header(delivery: &Delivery, name: &str) -> Option<String> {
    match header(delivery, name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

fn attempt_of(delivery: &Delivery) -> u32 {
    match header(delivery, ATTEMPT) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(1),
        _ => 1,
    }
}

/// Both stages of the pipeline; run by every api instance.
pub struct Pipeline {
    broker: Broker,
    webhooks: Arc<dyn WebhookTargets>,
    deliverer: Deliverer,
    max_attempts: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Expand,
    Deliver,
}

impl Pipeline {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        broker: Broker,
        webhooks: impl WebhookTargets + 'static,
        guard: PublicUrlGuard,
        limits: DeliveryLimits,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            broker,
            webhooks: Arc::new(webhooks),
            deliverer: Deliverer::new(guard, limits)?,
            max_attempts: limits.max_attempts.max(1),
        })
    }

    /// Starts both stages; they reconnect forever.
    pub fn spawn(self) {
        let pipeline = Arc::new(self);
        tokio::spawn(Arc::clone(&pipeline).run(Stage::Expand));
        tokio::spawn(pipeline.run(Stage::Deliver));
    }

    async fn run(self: Arc<Self>, stage: Stage) {
        loop {
            let (connection, channel) = self.broker.connect("webhooks").await;
            if let Err(e) = Arc::clone(&self).serve(&connection, channel, stage).await {
                tracing::warn!(error = format!("{e:#}"), "webhook consumer failed; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The pipeline's queues, of the broker's kind ([`crate::messaging::QueueType`]: quorum
    /// queues keep jobs and retries through the loss of a node; RabbitMQ 3.10
    /// honours their `x-message-ttl` and dead-letters them on expiry); the
    /// channel to go on with.
    async fn declare(&self, connection: &Connected, channel: Channel) -> lapin::Result<Channel> {
        let broker = &self.broker;
        let events = queue(broker, "events");
        let channel = broker.declare_queue(connection, channel, &events, FieldTable::default()).await?;
        for key in EVENTS {
            channel
                .queue_bind(
                    events.as_str().into(),
                    self.broker.exchange().into(),
                    key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let deliver = queue(broker, "deliver");
        let mut channel = broker.declare_queue(connection, channel, &deliver, FieldTable::default()).await?;
        for attempt in 1..self.max_attempts {
            let mut arguments = BTreeMap::new();
            arguments.insert(ShortString::from("x-message-ttl"), AMQPValue::LongLongInt(delay_ms(attempt)));
            arguments.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString("".into()));
            arguments
                .insert(ShortString::from("x-dead-letter-routing-key"), AMQPValue::LongString(deliver.as_str().into()));
            let retry = queue(broker, &format!("retry.{attempt}"));
            channel = broker.declare_queue(connection, channel, &retry, FieldTable::from(arguments)).await?;
        }
        let channel = broker.declare_queue(connection, channel, &dead_letters(broker), FieldTable::default()).await?;
        let mut arguments = BTreeMap::new();
        // A job without a slot waits the base of the schedule (1 s).
        arguments.insert(ShortString::from("x-message-ttl"), AMQPValue::LongLongInt(delay_ms(1)));
        arguments.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString("".into()));
        arguments
            .insert(ShortString::from("x-dead-letter-routing-key"), AMQPValue::LongString(deliver.as_str().into()));
        let wait = queue(broker, "wait");
        broker.declare_queue(connection, channel, &wait, FieldTable::from(arguments)).await
    }

    async fn serve(self: Arc<Self>, connection: &Connected, channel: Channel, stage: Stage) -> anyhow::Result<()> {
        let channel = &self.declare(connection, channel).await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let prefetch = match stage {
            Stage::Expand => PREFETCH,
            Stage::Deliver => DELIVER_PREFETCH,
        };
        channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
        let source = queue(
            &self.broker,
            match stage {
                Stage::Expand => "events",
                Stage::Deliver => "deliver",
            },
        );
        let mut deliveries = channel
            .basic_consume(source.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await?;
        if stage == Stage::Expand {
            // Every event of the exchange's types comes here, most of them
            // for nobody: what has arrived is expanded together, with one
            // lookup and one acknowledgement per batch.
            while let Some(first) = deliveries.next().await {
                let mut batch = vec![first?];
                while batch.len() < usize::from(PREFETCH) {
                    match deliveries.next().now_or_never() {
                        Some(Some(delivery)) => batch.push(delivery?),
                        _ => break,
                    }
                }
                self.expand_batch(channel, &batch).await?;
            }
            return Ok(());
        }
        while let Some(delivery) = deliveries.next().await {
            let delivery = delivery?;
            let (pipeline, channel) = (Arc::clone(&self), channel.clone());
            // Deliveries run side by side (up to the prefetch, and the slots of
            // each webhook and user): a slow receiver does not hold up the others.
            tokio::spawn(async move {
                let acked = match pipeline.deliver(&channel, &delivery).await {
                    Ok(()) => delivery.ack(BasicAckOptions::default()).await,
                    Err(e) => {
                        // Storage or broker trouble, not the receiver's: try again shortly.
                        tracing::warn!(error = format!("{e:#}"), "webhook job failed; requeueing");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        delivery.reject(BasicRejectOptions { requeue: true }).await
                    }
                };
                if let Err(e) = acked {
                    tracing::warn!(error = %e, "could not settle a webhook job");
                }
            });
        }
        Ok(())
    }

    async fn publish(
        &self,
        channel: &Channel,
        to: &str,
        body: &[u8],
        headers: BTreeMap<ShortString, AMQPValue>,
        event: &str,
    ) -> anyhow::Result<()> {
        confirmed(send(channel, to, body, headers, event).await?).await
    }

    /// One job per webhook that should see each event of `batch` (in the
    /// order received), then one acknowledgement of every event handled. An
    /// event that could not be handled (storage or broker trouble) is put
    /// back after a pause, to be tried again.
    async fn expand_batch(&self, channel: &Channel, batch: &[Delivery]) -> lapin::Result<()> {
        let (mut handled, mut failed) = (Vec::with_capacity(batch.len()), Vec::new());
        match self.expansions(batch).await {
            Ok(expansions) => {
                for (delivery, expansion) in batch.iter().zip(expansions) {
                    let outcome = match expansion {
                        Ok(Some(expansion)) => self.publish_jobs(channel, expansion).await,
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(()) => handled.push(delivery.delivery_tag),
                        Err(e) => failed.push((delivery, e)),
                    }
                }
            }
            Err(e) => failed.extend(batch.iter().map(|delivery| (delivery, anyhow!("{e:#}")))),
        }
        // Every earlier delivery of this channel is settled (batches run one
        // after the other), so one acknowledgement covers the batch.
        if let Some(last) = handled.iter().max() {
            channel.basic_ack(*last, BasicAckOptions { multiple: true }).await?;
        }
        if let Some((_, first)) = failed.first() {
            tracing::warn!(error = format!("{first:#}"), events = failed.len(), "webhook expansion failed; requeueing");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for (delivery, _) in failed {
            delivery.reject(BasicRejectOptions { requeue: true }).await?;
        }
        Ok(())
    }

    /// The expansion of each event of `batch`, its targets looked up for the
    /// whole batch at once.
    async fn expansions(&self, batch: &[Delivery]) -> anyhow::Result<Vec<anyhow::Result<Option<Expansion>>>> {
        let planned: Vec<anyhow::Result<Option<Planned>>> = batch.iter().map(|d| delivery::plan(&d.data)).collect();
        let audiences: Vec<Audience> =
            planned.iter().filter_map(|p| p.as_ref().ok().and_then(Option::as_ref)).map(|p| p.audience).collect();
        let mut targets = self.webhooks.of_audiences(&audiences).await?.into_iter();
        Ok(planned
            .into_iter()
            .map(|planned| Ok(planned?.map(|p| p.with_targets(targets.next().unwrap_or_default()))))
            .collect())
    }

    /// One job per webhook of `expansion`.
    async fn publish_jobs(&self, channel: &Channel, expansion: Expansion) -> anyhow::Result<()> {
        let deliver = queue(&self.broker, "deliver");
        let event_id = expansion.event_id.to_string();
        // Sent one after the other, confirmed together.
        let mut confirms = Vec::with_capacity(expansion.targets.len());
        for webhook in expansion.targets {
            let mut headers = BTreeMap::new();
            headers.insert(ShortString::from(WEBHOOK_ID), AMQPValue::LongString(webhook.to_string().into()));
            headers.insert(ShortString::from(EVENT_ID), AMQPValue::LongString(event_id.as_str().into()));
            headers.insert(ShortString::from(ATTEMPT), AMQPValue::LongLongInt(1));
            confirms.push(send(channel, &deliver, &expansion.body, headers, &event_id).await?);
        }
        for confirm in confirms {
            confirmed(confirm).await?;
        }
        Ok(())
    }

    /// POSTs one job; a failure is parked in the next retry queue, or buried.
    async fn deliver(&self, channel: &Channel, delivery: &Delivery) -> anyhow::Result<()> {
        let webhook_id = text_header(delivery, WEBHOOK_ID).and_then(|id| id.parse::<Uuid>().ok());
        let event_id = text_header(delivery, EVENT_ID).unwrap_or_default();
        let Some(webhook) = (match webhook_id {
            Some(id) => self.webhooks.find(id).await?,
            None => None,
        }) else {
            return Ok(()); // deleted since, or not a job: nothing to do
        };
        let Some(slot) = self.deliverer.slot(&webhook) else {
            // Waiting here would hold a prefetch place that other receivers'
            // jobs need: park the job instead, its attempt count unchanged.
            let headers = delivery.properties.headers().clone().unwrap_or_default().inner().clone();
            return self.publish(channel, &queue(&self.broker, "wait"), &delivery.data, headers, &event_id).await;
        };
        let outcome = self.deliverer.post(&webhook, &event_id, &delivery.data).await;
        drop(slot);
        let Err(reason) = outcome else {
            return Ok(());
        };
        let attempt = attempt_of(delivery);
        let mut headers = delivery.properties.headers().clone().unwrap_or_default().inner().clone();
        match delivery::failed(&webhook, attempt, self.max_attempts, RETRY_BASE, &reason) {
            AfterFailure::Retry { attempt: next, .. } => {
                headers.insert(ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(next)));
                let retry = queue(&self.broker, &format!("retry.{attempt}"));
                self.publish(channel, &retry, &delivery.data, headers, &event_id).await
            }
            AfterFailure::DeadLetter => {
                headers.insert("x-death-reason".into(), AMQPValue::LongString(reason.as_str().into()));
                self.publish(channel, &dead_letters(&self.broker), &delivery.data, headers, &event_id).await
            }
        }
    }
}

/// Moves every dead webhook job back to the delivery queue with its attempts
/// reset. Returns how many were moved.
///
/// # Errors
/// When the broker cannot be reached or refuses a message.
pub async fn replay_dead_letters(broker: &Broker) -> anyhow::Result<usize> {
    let connection = broker.open().await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let dead = dead_letters(broker);
    let deliver = queue(broker, "deliver");
    let mut moved = 0;
    while let Some(message) = channel.basic_get(dead.as_str().into(), BasicGetOptions::default()).await? {
        let delivery = message.delivery;
        let mut headers = delivery.properties.headers().clone().unwrap_or_default().inner().clone();
        headers.remove("x-death-reason");
        headers.insert(ATTEMPT.into(), AMQPValue::LongLongInt(1));
        let properties = delivery.properties.clone().with_headers(FieldTable::from(headers));
        let confirm = channel
            .basic_publish(
                "".into(),
                deliver.as_str().into(),
                BasicPublishOptions::default(),
                &delivery.data,
                properties,
            )
            .await?;
        if !confirm.await?.is_ack() {
            return Err(anyhow!("the broker refused a replayed job"));
        }
        delivery.ack(BasicAckOptions::default()).await?;
        moved += 1;
    }
    Ok(moved)
}
