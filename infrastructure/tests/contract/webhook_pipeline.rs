//! The embedded webhook pipeline end to end: events from a bus, jobs in the
//! SQLite table, signed POSTs to a local receiver, retries, dead letters,
//! replay, restarts and slots.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use domain::UserId;
use infrastructure::events::{Envelope, EventData};
use infrastructure::messaging::{EventBus, Handler, Message, Outgoing};
use infrastructure::persistence::sqlite::webhooks::{self as table};
use infrastructure::persistence::sqlite::{Sqlite, SqliteWebhookRepository};
use infrastructure::webhooks::{DeliveryLimits, EmbeddedPipeline, Expansion, PublicUrlGuard, Running, signature};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::support::{Backend, sqlite};
use crate::webhooks::Fixture;

/// The bus as the pipeline sees it: what is published is handed to the one
/// consumer's handler, in order, and the handler's outcomes are kept.
struct TestBus {
    sender: mpsc::UnboundedSender<Message>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
    outcomes: Mutex<Vec<Result<(), String>>>,
}

impl TestBus {
    fn new() -> Arc<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        Arc::new(Self { sender, receiver: Mutex::new(Some(receiver)), outcomes: Mutex::default() })
    }

    /// Waits until the handler has returned for `n` events; their outcomes.
    async fn handled(&self, n: usize) -> Vec<Result<(), String>> {
        for _ in 0..200 {
            let outcomes = self.outcomes.lock().unwrap().clone();
            if outcomes.len() >= n {
                return outcomes;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the handler saw {} events, not {n}", self.outcomes.lock().unwrap().len());
    }
}

#[async_trait::async_trait]
impl EventBus for TestBus {
    async fn publish(&self, events: &[Outgoing]) -> anyhow::Result<()> {
        for event in events {
            self.sender.send(Message { routing_key: event.routing_key.clone(), body: event.body.clone() })?;
        }
        Ok(())
    }

    async fn consume(&self, _: &'static str, bindings: &'static [&'static str], _: u16, handler: Handler) {
        let mut receiver = self.receiver.lock().unwrap().take().expect("one consumer per test bus");
        while let Some(message) = receiver.recv().await {
            if bindings.contains(&message.routing_key.as_str()) {
                let outcome = handler(std::sync::Arc::new(message)).await.map_err(|e| format!("{e:#}"));
                self.outcomes.lock().unwrap().push(outcome);
            }
        }
    }

    fn is_up(&self) -> bool {
        true
    }

    async fn close(&self) {}
}

/// The key of the receiver's counts for all paths together.
const ALL: &str = "*";

#[derive(Clone, Debug)]
struct Received {
    path: String,
    signature: String,
    event_id: String,
    body: Vec<u8>,
    at: Instant,
}

/// A local HTTP receiver on any path, answering `status` after `delay_ms`,
/// keeping what it got and how many requests each path had open at once.
#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Received>>>,
    /// Per path, and for all paths under [`ALL`]: (open now, most open at once).
    open: Arc<Mutex<HashMap<String, (usize, usize)>>>,
}

impl Receiver {
    async fn start() -> Self {
        let receiver = Self {
            url: String::new(),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            received: Arc::default(),
            open: Arc::default(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = receiver.clone();
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let state = state.clone();
                async move { state.answer(&request, body).await }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, ..receiver }
    }

    async fn answer(&self, request: &HttpRequest, body: web::Bytes) -> HttpResponse {
        let header =
            |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let path = request.path().to_owned();
        for key in [path.clone(), ALL.to_owned()] {
            let mut open = self.open.lock().unwrap();
            let entry = open.entry(key).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(entry.0);
        }
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        for key in [path.as_str(), ALL] {
            self.open.lock().unwrap().entry(key.to_owned()).or_default().0 -= 1;
        }
        self.received.lock().unwrap().push(Received {
            path,
            signature: header("x-signature-256"),
            event_id: header("x-event-id"),
            body: body.to_vec(),
            at: Instant::now(),
        });
        HttpResponse::build(actix_web::http::StatusCode::from_u16(self.status.load(Ordering::SeqCst)).unwrap()).finish()
    }

    /// Waits until `n` requests arrived (15 s at most).
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= n {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} deliveries, got {}", self.received.lock().unwrap().len());
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The most requests open at once across all paths, and on any one path.
    fn most_open(&self) -> (usize, usize) {
        let open = self.open.lock().unwrap();
        let all = open.get(ALL).map_or(0, |(_, most)| *most);
        let per_path = open.iter().filter(|(key, _)| *key != ALL).map(|(_, (_, most))| *most).max().unwrap_or(0);
        (all, per_path)
    }
}

fn limits(max_attempts: u32, per_webhook: usize, per_user: usize) -> DeliveryLimits {
    DeliveryLimits { max_attempts, per_webhook, per_user }
}

fn start(db: &Sqlite, limits: DeliveryLimits, base: Duration) -> (Arc<TestBus>, Running) {
    let bus = TestBus::new();
    let pipeline = EmbeddedPipeline::new(
        db.clone(),
        Arc::clone(&bus) as Arc<dyn EventBus>,
        SqliteWebhookRepository::new(db.clone()),
        PublicUrlGuard::new(true),
        limits,
    )
    .unwrap()
    .with_retry_base(base);
    (bus, pipeline.spawn())
}

fn outgoing(id: Uuid, event: &EventData) -> Outgoing {
    let created_at = Utc::now();
    let body = Envelope { id, event: event.clone(), created_at }.to_bytes().unwrap();
    Outgoing { id, routing_key: event.type_name().to_owned(), body, created_at, request_id: None }
}

/// Publishes that `author` deleted a post; the event as published.
async fn post_deleted(bus: &TestBus, author: UserId) -> Outgoing {
    let event =
        outgoing(Uuid::now_v7(), &EventData::PostDeleted { post_id: Uuid::now_v7(), author_id: *author.as_uuid() });
    bus.publish(std::slice::from_ref(&event)).await.unwrap();
    event
}

async fn world() -> (Sqlite, Fixture) {
    let db = sqlite().await;
    (db.clone(), Fixture::of(Backend::Sqlite(db)))
}

async fn hook(fixture: &Fixture, owner: UserId, url: &str) -> application::ports::Webhook {
    fixture.repository.create(owner, url, Utc::now(), 10).await.unwrap().unwrap()
}

async fn until_empty(db: &Sqlite) {
    for _ in 0..200 {
        if table::pending(db).await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("jobs still pending: {:?}", table::pending(db).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_at_the_webhooks_they_are_for() {
    let (db, fixture) = world().await;
    let (receiver, other) = (Receiver::start().await, Receiver::start().await);
    let (alice, bob, dave) = (fixture.user("alice").await, fixture.user("bob").await, fixture.user("dave").await);
    fixture.follow(alice, bob).await;
    let webhook = hook(&fixture, alice, &format!("{}/alice?token=t0ken", receiver.url)).await;
    hook(&fixture, dave, &format!("{}/dave", other.url)).await;
    let (bus, _running) = start(&db, limits(3, 2, 4), Duration::from_millis(100));

    let post = post_deleted(&bus, bob).await;
    let notification_id = Uuid::now_v7();
    let notification = json!({
        "id": notification_id,
        "type": "notification.created",
        "created_at": "2026-11-22T10:00:00.123Z",
        "data": {
            "recipient_id": alice.as_uuid(),
            "notification": {
                "id": Uuid::now_v7(),
                "type": "follow",
                "actor": {"id": dave.as_uuid(), "username": "dave", "display_name": null, "avatar_url": null},
                "created_at": "2026-11-22T10:00:00.123Z",
                "read": false,
            },
        },
    });
    bus.publish(&[Outgoing {
        id: notification_id,
        routing_key: "notification.created".into(),
        body: serde_json::to_vec(&notification).unwrap(),
        created_at: Utc::now(),
        request_id: None,
    }])
    .await
    .unwrap();

    assert_eq!(bus.handled(2).await, vec![Ok(()), Ok(())]);
    let received = receiver.wait_for(2).await;
    for delivery in &received {
        assert_eq!(delivery.signature, signature(&webhook.secret, &delivery.body), "signed with the webhook's secret");
        assert_eq!(delivery.path, "/alice");
    }
    let by_event: HashMap<&str, &Received> = received.iter().map(|r| (r.event_id.as_str(), r)).collect();
    assert_eq!(by_event[post.id.to_string().as_str()].body, post.body, "a post event is forwarded byte for byte");
    let frame: Value = serde_json::from_slice(&by_event[notification_id.to_string().as_str()].body).unwrap();
    assert_eq!(frame["type"], "notification", "a notification as the WebSocket frame");
    assert_eq!(frame["id"], notification_id.to_string());
    assert_eq!(frame["data"]["notification"]["actor"]["username"], "dave");

    until_empty(&db).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(other.count(), 0, "dave follows nobody and got no notification");
    assert_eq!(receiver.count(), 2, "each delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_growing_delays_then_dead_lettered_and_replayed() {
    let (db, fixture) = world().await;
    let receiver = Receiver::start().await;
    receiver.status.store(500, Ordering::SeqCst);
    let (alice, bob) = (fixture.user("alice").await, fixture.user("bob").await);
    fixture.follow(alice, bob).await;
    let webhook = hook(&fixture, alice, &format!("{}/hook", receiver.url)).await;
    let base = Duration::from_millis(300);
    let (bus, _running) = start(&db, limits(3, 2, 4), base);

    let event = post_deleted(&bus, bob).await;
    let first = receiver.wait_for(1).await;
    // The failed first attempt leaves the job due one base later, as attempt 2.
    let mut job = None;
    for _ in 0..100 {
        job = table::pending(&db).await.unwrap().into_iter().find(|job| job.attempt == 2);
        if job.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let job = job.expect("attempt 2 scheduled");
    assert_eq!((job.webhook_id, job.event_id, job.body.as_slice()), (webhook.id, event.id, event.body.as_slice()));
    let wait = (job.due_at - Utc::now()).to_std().unwrap_or_default();
    assert!(wait <= base && wait >= base / 2, "due about one base after the failure: {wait:?}");

    let attempts = receiver.wait_for(3).await;
    let (gap1, gap2) = (attempts[1].at - first[0].at, attempts[2].at - attempts[1].at);
    assert!(gap1 >= base && gap1 < base + Duration::from_millis(900), "{gap1:?}");
    assert!(gap2 >= 2 * base && gap2 > gap1, "the delay doubles: {gap1:?} then {gap2:?}");
    assert!(attempts.iter().all(|a| a.event_id == event.id.to_string()), "the same delivery, retried");

    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = table::dead_letters(&db).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead.len(), 1, "dead-lettered after WEBHOOK_MAX_RETRY attempts");
    assert_eq!((dead[0].webhook_id, dead[0].event_id, dead[0].attempts), (webhook.id, event.id, 3));
    assert_eq!(dead[0].reason, "answered HTTP 500");
    assert_eq!(dead[0].body, event.body);
    assert!(table::pending(&db).await.unwrap().is_empty());
    tokio::time::sleep(4 * base).await;
    assert_eq!(receiver.count(), 3, "no fourth attempt on its own");

    receiver.status.store(200, Ordering::SeqCst);
    assert_eq!(table::replay_dead_letters(&db, Utc::now()).await.unwrap(), 1);
    assert!(table::dead_letters(&db).await.unwrap().is_empty());
    // The replay wakes nobody (it may run in another process): the poll finds it.
    let after = receiver.wait_for(4).await;
    assert_eq!(after[3].event_id, event.id.to_string());
    assert_eq!(after[3].signature, signature(&webhook.secret, &event.body));
    until_empty(&db).await;
    assert_eq!(table::replay_dead_letters(&db, Utc::now()).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_reason_carries_no_query_string() {
    let (db, fixture) = world().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (alice, bob) = (fixture.user("alice").await, fixture.user("bob").await);
    fixture.follow(alice, bob).await;
    hook(&fixture, alice, &format!("http://127.0.0.1:{closed}/hook?token=s3cret-token&sig=abcdef123")).await;
    let (bus, _running) = start(&db, limits(1, 2, 4), Duration::from_millis(50));
    post_deleted(&bus, bob).await;
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = table::dead_letters(&db).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let reason = &dead.first().expect("dead-lettered at once with one attempt allowed").reason;
    assert!(reason.starts_with("could not connect"), "{reason}");
    for secret in ["s3cret", "token", "abcdef123", "?"] {
        assert!(!reason.contains(secret), "{secret:?} in {reason:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_job_survives_a_restart() {
    let (db, fixture) = world().await;
    let receiver = Receiver::start().await;
    receiver.status.store(503, Ordering::SeqCst);
    let (alice, bob) = (fixture.user("alice").await, fixture.user("bob").await);
    fixture.follow(alice, bob).await;
    let webhook = hook(&fixture, alice, &format!("{}/hook", receiver.url)).await;
    let base = Duration::from_millis(500);
    let (bus, running) = start(&db, limits(5, 2, 4), base);
    let event = post_deleted(&bus, bob).await;
    assert_eq!(bus.handled(1).await, vec![Ok(())]);
    // Handled means committed: the job is in the table whatever happens next.
    assert_eq!(table::pending(&db).await.unwrap().len(), 1);
    receiver.wait_for(1).await;
    running.stop();
    let path = db.path().to_owned();
    drop((db, fixture));

    receiver.status.store(200, Ordering::SeqCst);
    let db = Sqlite::open(&path, 2).await.unwrap();
    let pending = table::pending(&db).await.unwrap();
    assert_eq!(pending.len(), 1, "the job outlived the process");
    assert_eq!((pending[0].attempt, pending[0].event_id), (2, event.id));
    let (_bus, _running) = start(&db, limits(5, 2, 4), base);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].event_id, event.id.to_string());
    assert_eq!(received[1].body, event.body);
    assert_eq!(received[1].signature, signature(&webhook.secret, &event.body));
    until_empty(&db).await;
    assert!(table::dead_letters(&db).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_keep_to_their_slots_and_a_waiting_job_keeps_its_attempt() {
    let (db, fixture) = world().await;
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    slow.delay_ms.store(300, Ordering::SeqCst);
    let (mallory, alice, carol) =
        (fixture.user("mallory").await, fixture.user("alice").await, fixture.user("carol").await);
    fixture.follow(mallory, carol).await;
    fixture.follow(alice, carol).await;
    for n in 0..3 {
        hook(&fixture, mallory, &format!("{}/{n}", slow.url)).await;
    }
    hook(&fixture, alice, &format!("{}/alice", fast.url)).await;
    // One attempt each: a job put off for want of a slot must not spend it.
    let (bus, _running) = start(&db, limits(1, 1, 2), Duration::from_millis(100));
    let started = Instant::now();
    for _ in 0..3 {
        post_deleted(&bus, carol).await;
    }

    let mut waiting_seen = false;
    while slow.count() < 9 && started.elapsed() < Duration::from_secs(20) {
        for job in table::pending(&db).await.unwrap() {
            assert_eq!(job.attempt, 1, "{job:?}");
            waiting_seen |= job.due_at > Utc::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fast_done = fast.wait_for(3).await.iter().map(|r| r.at).max().unwrap();
    let slow_done = slow.wait_for(9).await.iter().map(|r| r.at).max().unwrap();
    assert!(waiting_seen, "jobs without a slot were put off");
    assert!(fast_done < slow_done, "another user's deliveries do not queue behind mallory's");
    let (together, per_webhook) = slow.most_open();
    assert_eq!(per_webhook, 1, "one delivery at a time per webhook");
    assert_eq!(together, 2, "mallory's webhooks together hold her two slots, no more");
    until_empty(&db).await;
    assert!(table::dead_letters(&db).await.unwrap().is_empty(), "no attempt was spent waiting");
}

#[tokio::test]
async fn queueing_skips_deleted_webhooks_and_events_already_queued_in_batches_of_any_size() {
    let (db, fixture) = world().await;
    let alice = fixture.user("alice").await;
    let mut targets = Vec::new();
    for n in 0..520 {
        targets.push(
            fixture
                .repository
                .create(alice, &format!("https://example.com/{n}"), Utc::now(), 1000)
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    let deleted = targets[7];
    assert!(fixture.repository.delete(alice, deleted).await.unwrap());
    let expansion = Expansion {
        event_id: Uuid::now_v7(),
        event_type: "post.deleted",
        targets: targets.clone(),
        body: b"{}".to_vec(),
    };
    let now = Utc::now();
    assert_eq!(table::enqueue(&db, &expansion, now).await.unwrap(), 519, "all but the deleted webhook");
    assert_eq!(table::enqueue(&db, &expansion, now).await.unwrap(), 0, "the same event handled twice");
    let pending = table::pending(&db).await.unwrap();
    assert_eq!(pending.len(), 519);
    assert!(pending.iter().all(|job| job.attempt == 1 && job.event_id == expansion.event_id && job.body == b"{}"));
    assert!(pending.iter().all(|job| job.webhook_id != deleted));
    // Deleting a webhook takes its pending jobs along.
    assert!(fixture.repository.delete(alice, targets[0]).await.unwrap());
    assert_eq!(table::pending(&db).await.unwrap().len(), 518);
    let due = table::due(&db, Utc::now(), 10, vec![pending[1].id]).await.unwrap();
    assert_eq!(due.len(), 10);
    assert!(due.iter().all(|job| job.id != pending[1].id), "jobs in flight are left out");
}
