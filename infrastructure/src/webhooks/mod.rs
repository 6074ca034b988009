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

mod guard;
mod slots;

pub use guard::{PublicUrlGuard, PublicUrlGuardParameters};

use anyhow::{Context, anyhow};
use domain::UserId;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use application::ports::Webhook;

use crate::events::{Envelope, EventData};
use crate::messaging::Broker;
use crate::persistence::PgWebhookRepository;

/// The events a webhook receives: what its owner would get on the WebSocket.
const EVENTS: [&str; 3] = ["post.created", "post.deleted", "notification.created"];
const WEBHOOK_ID: &str = "x-webhook-id";
const EVENT_ID: &str = "x-event-id";
const ATTEMPT: &str = "x-attempt";
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Events being expanded per consumer.
const PREFETCH: u16 = 16;
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
    /// answers holds that many slots for `TIMEOUT`, and a healthy one is not
    /// serialised behind a single slow request.
    pub per_webhook: usize,
    /// For one user's webhooks together (`WEBHOOK_PER_USER`, default 4): one
    /// user's tarpits cannot take more than this many slots.
    pub per_user: usize,
}
/// How long a job without a slot waits before it is tried again.
const WAIT_MS: i64 = 1000;

fn queue(broker: &Broker, name: &str) -> String {
    format!("{}.webhooks.{name}", broker.exchange())
}

/// The dead-letter queue of webhook jobs.
#[must_use]
pub fn dead_letters(broker: &Broker) -> String {
    queue(broker, "dead")
}

/// Seconds a job waits before its `attempt + 1`-th try.
fn delay_ms(attempt: u32) -> u64 {
    1000 * 2u64.pow(attempt.saturating_sub(1).min(12))
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

/// `sha256=<hex HMAC-SHA256 of body with secret>`.
#[must_use]
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts a key of any length: new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Both stages of the pipeline; run by every api instance.
pub struct Pipeline {
    broker: Broker,
    webhooks: PgWebhookRepository,
    guard: PublicUrlGuard,
    max_attempts: u32,
    client: reqwest::Client,
    slots: slots::Slots,
}

#[derive(Clone, Copy)]
enum Stage {
    Expand,
    Deliver,
}

impl Pipeline {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        broker: Broker,
        webhooks: PgWebhookRepository,
        guard: PublicUrlGuard,
        limits: DeliveryLimits,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // Every name is resolved by the guard's resolver, which answers only
            // addresses it has checked; a proxy would resolve names itself.
            .dns_resolver(guard.resolver())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("social-webhooks/1")
            .build()?;
        let slots = slots::Slots::new(limits.per_webhook.max(1), limits.per_user.max(1));
        Ok(Self { broker, webhooks, guard, max_attempts: limits.max_attempts.max(1), client, slots })
    }

    /// Starts both stages; they reconnect forever.
    pub fn spawn(self) {
        let pipeline = Arc::new(self);
        tokio::spawn(Arc::clone(&pipeline).run(Stage::Expand));
        tokio::spawn(pipeline.run(Stage::Deliver));
    }

    async fn run(self: Arc<Self>, stage: Stage) {
        loop {
            let (_connection, channel) = self.broker.connect("webhooks").await;
            if let Err(e) = Arc::clone(&self).serve(&channel, stage).await {
                tracing::warn!(error = format!("{e:#}"), "webhook consumer failed; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        let events = queue(&self.broker, "events");
        channel.queue_declare(events.as_str().into(), durable, FieldTable::default()).await?;
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
        let deliver = queue(&self.broker, "deliver");
        channel.queue_declare(deliver.as_str().into(), durable, FieldTable::default()).await?;
        for attempt in 1..self.max_attempts {
            let mut arguments = BTreeMap::new();
            arguments.insert(
                ShortString::from("x-message-ttl"),
                AMQPValue::LongLongInt(i64::try_from(delay_ms(attempt)).unwrap_or(i64::MAX)),
            );
            arguments.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString("".into()));
            arguments
                .insert(ShortString::from("x-dead-letter-routing-key"), AMQPValue::LongString(deliver.as_str().into()));
            let retry = queue(&self.broker, &format!("retry.{attempt}"));
            channel.queue_declare(retry.as_str().into(), durable, FieldTable::from(arguments)).await?;
        }
        channel.queue_declare(dead_letters(&self.broker).as_str().into(), durable, FieldTable::default()).await?;
        let mut arguments = BTreeMap::new();
        arguments.insert(ShortString::from("x-message-ttl"), AMQPValue::LongLongInt(WAIT_MS));
        arguments.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString("".into()));
        arguments
            .insert(ShortString::from("x-dead-letter-routing-key"), AMQPValue::LongString(deliver.as_str().into()));
        let wait = queue(&self.broker, "wait");
        channel.queue_declare(wait.as_str().into(), durable, FieldTable::from(arguments)).await?;
        Ok(())
    }

    async fn serve(self: Arc<Self>, channel: &Channel, stage: Stage) -> anyhow::Result<()> {
        self.declare(channel).await?;
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
        while let Some(delivery) = deliveries.next().await {
            let delivery = delivery?;
            let (pipeline, channel) = (Arc::clone(&self), channel.clone());
            // Deliveries run side by side (up to the prefetch, and the slots of
            // each webhook and user): a slow receiver does not hold up the others.
            tokio::spawn(async move {
                let outcome = match stage {
                    Stage::Expand => pipeline.expand(&channel, &delivery).await,
                    Stage::Deliver => pipeline.deliver(&channel, &delivery).await,
                };
                let acked = match outcome {
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
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(event.into())
            .with_headers(FieldTable::from(headers));
        let confirm =
            channel.basic_publish("".into(), to.into(), BasicPublishOptions::default(), body, properties).await?;
        if confirm.await?.is_ack() { Ok(()) } else { Err(anyhow!("the broker refused a webhook job")) }
    }

    /// One job per webhook that should see the event.
    async fn expand(&self, channel: &Channel, delivery: &Delivery) -> anyhow::Result<()> {
        let Ok(event) = Envelope::parse(&delivery.data) else {
            tracing::warn!("dropping a malformed event");
            return Ok(());
        };
        let (targets, body) = match &event.event {
            // The published event is already the body a receiver gets.
            EventData::PostCreated { post } => {
                (self.webhooks.of_followers(UserId::from_uuid(post.author.id)).await?, delivery.data.clone())
            }
            EventData::PostDeleted { author_id, .. } => {
                (self.webhooks.of_followers(UserId::from_uuid(*author_id)).await?, delivery.data.clone())
            }
            EventData::NotificationCreated { recipient_id, notification } => {
                let frame = crate::notifier::render::live_notification(event.id, event.created_at, notification)
                    .context("unrenderable notification")?;
                (self.webhooks.of_user(UserId::from_uuid(*recipient_id)).await?, frame.text.as_bytes().to_vec())
            }
            _ => return Ok(()),
        };
        let deliver = queue(&self.broker, "deliver");
        for webhook in targets {
            let mut headers = BTreeMap::new();
            headers.insert(ShortString::from(WEBHOOK_ID), AMQPValue::LongString(webhook.to_string().into()));
            headers.insert(ShortString::from(EVENT_ID), AMQPValue::LongString(event.id.to_string().into()));
            headers.insert(ShortString::from(ATTEMPT), AMQPValue::LongLongInt(1));
            self.publish(channel, &deliver, &body, headers, &event.id.to_string()).await?;
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
        let Some(slot) = self.slots.try_take(webhook.id, *webhook.owner.as_uuid()) else {
            // Waiting here would hold a prefetch place that other receivers'
            // jobs need: park the job instead, its attempt count unchanged.
            metrics::counter!("webhook_deliveries_total", "outcome" => "deferred").increment(1);
            let headers = delivery.properties.headers().clone().unwrap_or_default().inner().clone();
            return self.publish(channel, &queue(&self.broker, "wait"), &delivery.data, headers, &event_id).await;
        };
        let outcome =
            self.post(&webhook, &event_id, &delivery.data).await.map_err(|reason| redact(&reason, &webhook.url));
        drop(slot);
        let Err(reason) = outcome else {
            metrics::counter!("webhook_deliveries_total", "outcome" => "delivered").increment(1);
            return Ok(());
        };
        let attempt = attempt_of(delivery);
        let mut headers = delivery.properties.headers().clone().unwrap_or_default().inner().clone();
        if attempt < self.max_attempts {
            tracing::info!(webhook_id = %webhook.id, attempt, reason, "webhook delivery failed; will retry");
            metrics::counter!("webhook_deliveries_total", "outcome" => "retried").increment(1);
            headers.insert(ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(attempt) + 1));
            let retry = queue(&self.broker, &format!("retry.{attempt}"));
            self.publish(channel, &retry, &delivery.data, headers, &event_id).await
        } else {
            tracing::warn!(webhook_id = %webhook.id, attempt, reason, "webhook delivery failed; dead-lettering");
            metrics::counter!("events_dead_lettered_total", "type" => "webhook").increment(1);
            headers.insert("x-death-reason".into(), AMQPValue::LongString(reason.as_str().into()));
            self.publish(channel, &dead_letters(&self.broker), &delivery.data, headers, &event_id).await
        }
    }
}

impl Pipeline {
    /// One signed POST; the reason of a failure, which may quote parts of the URL.
    async fn post(&self, webhook: &Webhook, event_id: &str, body: &[u8]) -> Result<(), String> {
        // A name is checked by the client's resolver; an IP literal is not
        // resolved, so it is checked here.
        self.guard.target(&webhook.url)?;
        let response = self
            .client
            .post(&webhook.url)
            .header("content-type", "application/json")
            .header("x-signature-256", signature(&webhook.secret, body))
            .header("x-event-id", event_id)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered HTTP {}", response.status().as_u16()))
        }
    }
}

/// Why a request failed, from the error's kind and cause chain. The error's
/// own text names the URL, which may carry a token in its query: left out.
fn describe(error: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<guard::Refused>() {
            return guard::REFUSED.to_owned();
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    std::iter::once(kind.to_owned()).chain(causes).collect::<Vec<_>>().join(": ")
}

/// `reason` without the query, fragment or credentials of `url`, wherever
/// they appear: failure reasons are logged and stored with dead letters,
/// and receivers often authenticate with a token in the URL.
fn redact(reason: &str, url: &str) -> String {
    let mut secrets: Vec<&str> = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((credentials, _)) = authority.rsplit_once('@') {
            secrets.push(credentials);
            secrets.extend(credentials.split(':'));
        }
    }
    if let Some(at) = url.find(['?', '#']) {
        secrets.push(&url[at..]);
        secrets.extend(url[at + 1..].split(['&', '#', '=', '?']));
    }
    // Longest first, so a whole query goes before its parts; a part too
    // short to be a secret would only mangle the reason.
    secrets.retain(|s| s.len() >= 4);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.iter().fold(reason.to_owned(), |reason, secret| reason.replace(secret, "[redacted]"))
}

/// Moves every dead webhook job back to the delivery queue with its attempts
/// reset. Returns how many were moved.
///
/// # Errors
/// When the broker cannot be reached or refuses a message.
pub async fn replay_dead_letters(broker: &Broker) -> anyhow::Result<usize> {
    let connection = lapin::Connection::connect(broker.url(), lapin::ConnectionProperties::default()).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reason_keeps_no_query_fragment_or_credentials() {
        let url = "https://hook-user:hunter22@example.com/in?token=s3cret-token&x=1#frag-ment";
        let reason = format!("could not connect: {url}: token=s3cret-token; user hook-user pw hunter22 frag-ment");
        let redacted = redact(&reason, url);
        for secret in ["s3cret-token", "hunter22", "hook-user", "frag-ment", "?token"] {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        assert!(redacted.starts_with("could not connect: https://[redacted]@example.com/in[redacted]"), "{redacted}");
    }

    #[tokio::test]
    async fn a_failed_request_is_described_without_its_url() {
        let url = "http://127.0.0.1:1/hook?token=s3cret-token";
        let error = reqwest::Client::new().post(url).send().await.unwrap_err();
        let reason = describe(&error);
        assert!(reason.starts_with("could not connect"), "{reason}");
        assert!(!reason.contains("s3cret") && !reason.contains("127.0.0.1:1"), "{reason}");
    }

    #[tokio::test]
    async fn a_name_refused_by_the_resolver_is_described_as_refused() {
        let client =
            reqwest::Client::builder().dns_resolver(PublicUrlGuard::new(false).resolver()).no_proxy().build().unwrap();
        let error = client.post("http://localhost:1/hook?token=s3cret").send().await.unwrap_err();
        assert_eq!(describe(&error), guard::REFUSED);
    }
}
