//! What both delivery pipelines (RabbitMQ queues, SQLite table) do the same
//! way: which webhooks an event goes to and with what body, the signed POST,
//! what a failed attempt leads to, and the retry schedule.

use anyhow::Context;
use async_trait::async_trait;
use domain::UserId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use uuid::Uuid;

use application::PortError;
use application::ports::Webhook;

use super::guard;
use super::slots::{Slot, Slots};
use super::{DeliveryLimits, PublicUrlGuard};
use crate::events::{Envelope, EventData};

/// The events a webhook receives: what its owner would get on the WebSocket.
pub const EVENTS: [&str; 3] = ["post.created", "post.deleted", "notification.created"];
/// How long one delivery may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The unit of the retry schedule: the first retry waits this long, and a
/// job without a free slot waits this long before it is tried again.
pub const RETRY_BASE: Duration = Duration::from_secs(1);

/// The lookups delivery needs, on either backend.
#[async_trait]
pub trait WebhookTargets: Send + Sync {
    /// Webhooks of every follower of `author` (for post events).
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn of_followers(&self, author: UserId) -> Result<Vec<Uuid>, PortError>;

    /// Webhooks of `user` (for their notifications).
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn of_user(&self, user: UserId) -> Result<Vec<Uuid>, PortError>;

    /// A webhook by id, if it still exists.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn find(&self, id: Uuid) -> Result<Option<Webhook>, PortError>;

    /// The webhooks of each audience, for many events at once. Answers one
    /// list per audience, in order. By default one lookup each; a backend
    /// answers them together where that saves round trips.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn of_audiences(&self, audiences: &[Audience]) -> Result<Vec<Vec<Uuid>>, PortError> {
        let mut found = Vec::with_capacity(audiences.len());
        for audience in audiences {
            found.push(match *audience {
                Audience::FollowersOf(author) => self.of_followers(author).await?,
                Audience::User(user) => self.of_user(user).await?,
            });
        }
        Ok(found)
    }
}

/// Whose webhooks an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// The webhooks of every follower of this author (post events).
    FollowersOf(UserId),
    /// This user's own webhooks (their notifications).
    User(UserId),
}

/// An event read and rendered, its targets not yet looked up.
#[derive(Debug)]
pub struct Planned {
    pub audience: Audience,
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub body: Vec<u8>,
}

impl Planned {
    #[must_use]
    pub fn with_targets(self, targets: Vec<Uuid>) -> Expansion {
        Expansion { event_id: self.event_id, event_type: self.event_type, targets, body: self.body }
    }
}

/// One event made into deliveries: the same body to each target webhook.
#[derive(Debug)]
pub struct Expansion {
    pub event_id: Uuid,
    /// The event's type (its routing key).
    pub event_type: &'static str,
    pub targets: Vec<Uuid>,
    /// What each receiver gets, byte for byte (and what is signed).
    pub body: Vec<u8>,
}

/// The deliveries an event makes, or `None` for an event no webhook gets
/// (including a malformed one, which is logged and dropped).
///
/// # Errors
/// Storage failures, and a notification that cannot be rendered.
pub async fn expand(data: &[u8], targets: &dyn WebhookTargets) -> anyhow::Result<Option<Expansion>> {
    let Some(planned) = plan(data)? else { return Ok(None) };
    let found = targets.of_audiences(&[planned.audience]).await?.pop().unwrap_or_default();
    Ok(Some(planned.with_targets(found)))
}

/// Who a published event goes to and with what body, or `None` for an event
/// no webhook gets (including a malformed one, which is logged and dropped).
///
/// # Errors
/// A notification that cannot be rendered.
pub fn plan(data: &[u8]) -> anyhow::Result<Option<Planned>> {
    let Ok(event) = Envelope::parse(data) else {
        tracing::warn!("dropping a malformed event");
        return Ok(None);
    };
    let (audience, body) = match &event.event {
        // The published event is already the body a receiver gets.
        EventData::PostCreated { post } => (Audience::FollowersOf(UserId::from_uuid(post.author.id)), data.to_vec()),
        EventData::PostDeleted { author_id, .. } => {
            (Audience::FollowersOf(UserId::from_uuid(*author_id)), data.to_vec())
        }
        EventData::NotificationCreated { recipient_id, notification } => {
            let frame = crate::notifier::render::live_notification(event.id, event.created_at, notification)
                .context("unrenderable notification")?;
            (Audience::User(UserId::from_uuid(*recipient_id)), frame.text.as_bytes().to_vec())
        }
        _ => return Ok(None),
    };
    Ok(Some(Planned { audience, event_id: event.id, event_type: event.event.type_name(), body }))
}

/// How long a job waits before its `attempt + 1`-th try: `base`, doubling
/// with each attempt (the served retry queues' TTLs with `base` = 1 s).
#[must_use]
pub fn retry_delay(attempt: u32, base: Duration) -> Duration {
    base.saturating_mul(2u32.pow(attempt.saturating_sub(1).min(12)))
}

/// What follows a failed attempt. Every failure of the receiver (no answer,
/// an error status, a refused address) is retryable: a receiver that is down
/// or misconfigured now may be fixed before the last attempt. Only the
/// attempt count makes a failure final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again as attempt `attempt` after `after`.
    Retry { attempt: u32, after: Duration },
    /// Attempts are spent: dead-letter the job.
    DeadLetter,
}

/// The fate of attempt `attempt` (counted from 1) that failed.
#[must_use]
pub fn after_failure(attempt: u32, max_attempts: u32, base: Duration) -> AfterFailure {
    if attempt < max_attempts {
        AfterFailure::Retry { attempt: attempt + 1, after: retry_delay(attempt, base) }
    } else {
        AfterFailure::DeadLetter
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

/// Whether an answer counts as delivered: any 2xx; the reason otherwise.
///
/// # Errors
/// The reason, for any other status.
pub fn classify(status: reqwest::StatusCode) -> Result<(), String> {
    if status.is_success() { Ok(()) } else { Err(format!("answered HTTP {}", status.as_u16())) }
}

/// The HTTP side of delivery, and the slots bounding it, for one process.
pub struct Deliverer {
    guard: PublicUrlGuard,
    client: reqwest::Client,
    slots: Slots,
}

impl Deliverer {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(guard: PublicUrlGuard, limits: DeliveryLimits) -> anyhow::Result<Self> {
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
        let slots = Slots::new(limits.per_webhook.max(1), limits.per_user.max(1));
        Ok(Self { guard, client, slots })
    }

    /// A slot for one delivery to `webhook`, or `None` at once if it or its
    /// owner has its share in flight: the caller puts the job off.
    #[must_use]
    pub fn slot(&self, webhook: &Webhook) -> Option<Slot> {
        let slot = self.slots.try_take(webhook.id, *webhook.owner.as_uuid());
        if slot.is_none() {
            metrics::counter!("webhook_deliveries_total", "outcome" => "deferred").increment(1);
        }
        slot
    }

    /// One signed POST of `body` to `webhook`.
    ///
    /// # Errors
    /// Why it failed, with the URL's secrets redacted: fit for logs and dead letters.
    pub async fn post(&self, webhook: &Webhook, event_id: &str, body: &[u8]) -> Result<(), String> {
        let outcome = self.send(webhook, event_id, body).await.map_err(|reason| redact(&reason, &webhook.url));
        if outcome.is_ok() {
            metrics::counter!("webhook_deliveries_total", "outcome" => "delivered").increment(1);
        }
        outcome
    }

    /// The reason of a failure may quote parts of the URL.
    async fn send(&self, webhook: &Webhook, event_id: &str, body: &[u8]) -> Result<(), String> {
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
        classify(response.status())
    }
}

/// Logs and counts a failed attempt and says what follows it.
#[must_use]
pub fn failed(webhook: &Webhook, attempt: u32, max_attempts: u32, base: Duration, reason: &str) -> AfterFailure {
    let next = after_failure(attempt, max_attempts, base);
    match next {
        AfterFailure::Retry { .. } => {
            tracing::info!(webhook_id = %webhook.id, attempt, reason, "webhook delivery failed; will retry");
            metrics::counter!("webhook_deliveries_total", "outcome" => "retried").increment(1);
        }
        AfterFailure::DeadLetter => {
            tracing::warn!(webhook_id = %webhook.id, attempt, reason, "webhook delivery failed; dead-lettering");
            metrics::counter!("events_dead_lettered_total", "type" => "webhook").increment(1);
        }
    }
    next
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

    #[test]
    fn retries_wait_the_base_then_double_and_the_last_attempt_is_final() {
        let base = Duration::from_secs(1);
        let delays: Vec<u64> = (1..=5).map(|attempt| retry_delay(attempt, base).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16]);
        assert_eq!(retry_delay(40, base), retry_delay(13, base), "the doubling stops");
        assert_eq!(after_failure(1, 3, base), AfterFailure::Retry { attempt: 2, after: base });
        assert_eq!(after_failure(2, 3, base), AfterFailure::Retry { attempt: 3, after: 2 * base });
        assert_eq!(after_failure(3, 3, base), AfterFailure::DeadLetter);
    }

    #[test]
    fn only_a_2xx_answer_is_a_delivery() {
        assert!(classify(reqwest::StatusCode::NO_CONTENT).is_ok());
        assert_eq!(classify(reqwest::StatusCode::GONE), Err("answered HTTP 410".to_owned()));
        assert!(classify(reqwest::StatusCode::MOVED_PERMANENTLY).is_err(), "redirects are not followed");
    }
}
