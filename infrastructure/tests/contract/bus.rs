//! The event-bus port: the same checks against the in-process bus (always)
//! and RabbitMQ (when `TEST_AMQP_URL` is set) with classic and with quorum
//! queues, each on a private exchange.

use futures::FutureExt;
use infrastructure::messaging::{
    Broker, EventBus, Handler, InProcessBus, MAX_ATTEMPTS, Message, Outgoing, QUEUE_EXPIRES_MS, QueueType, sync_handler,
};
use infrastructure::persistence::sqlite::{Sqlite, dead_letters};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::support;

/// Every consumer here is also bound to it: a consumer that has received a
/// probe is bound, whatever the adapter takes to set up its queue.
const PROBE: &str = "probe.ready";

/// One adapter under test, with what only it can tell.
enum Adapter {
    InProcess { bus: InProcessBus, db: Sqlite },
    RabbitMq { broker: Broker, url: String },
}

/// A dead letter as both adapters can show it.
#[derive(Debug, PartialEq, Eq)]
struct Dead {
    routing_key: String,
    body: Vec<u8>,
    reason: String,
}

async fn adapters() -> Vec<Adapter> {
    let db = support::sqlite().await;
    let mut adapters = vec![Adapter::InProcess { bus: InProcessBus::new(db.clone()), db }];
    if let Some(url) = support::amqp() {
        for kind in [QueueType::Classic, QueueType::Quorum] {
            adapters.push(rabbitmq(&url, kind));
        }
    }
    adapters
}

/// RabbitMQ at `url` on a new exchange, declaring `kind` queues.
fn rabbitmq(url: &str, kind: QueueType) -> Adapter {
    let exchange = format!("test.{}", uuid::Uuid::now_v7().simple());
    Adapter::RabbitMq { broker: Broker::new(url.into(), &exchange).with_queue_type(kind), url: url.to_owned() }
}

/// The kind of the existing queue `name` (declared with `arguments` besides
/// its kind). RabbitMQ accepts a quorum declare of an existing queue only if
/// it is a quorum queue: on another kind it answers 406 (inequivalent
/// `x-queue-type`), which is the answer here.
async fn kind_of(url: &str, name: &str, arguments: FieldTable) -> QueueType {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(name.into(), passive, FieldTable::default()).await.expect("the queue exists");
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    let kind = match channel.queue_declare(name.into(), durable, QueueType::Quorum.declare_arguments(arguments)).await {
        Ok(_) => QueueType::Quorum,
        Err(e) => {
            assert!(e.to_string().contains("x-queue-type"), "{name}: {e}");
            QueueType::Classic
        }
    };
    connection.close(200, "done".into()).await.ok();
    kind
}

impl Adapter {
    fn name(&self) -> &'static str {
        match self {
            Self::InProcess { .. } => "in-process",
            Self::RabbitMq { broker, .. } => match broker.queue_type() {
                QueueType::Classic => "rabbitmq classic",
                QueueType::Quorum => "rabbitmq quorum",
            },
        }
    }

    /// On RabbitMQ, checks that every queue the broker declared is of its kind.
    async fn assert_queue_kinds(&self) {
        let Self::RabbitMq { broker, url } = self else { return };
        let kind = broker.queue_type();
        for queue in broker.consumer_queues() {
            let mut expires = FieldTable::default();
            expires.insert("x-expires".into(), AMQPValue::LongLongInt(QUEUE_EXPIRES_MS));
            assert_eq!(kind_of(url, &queue, expires).await, kind, "{queue}");
        }
        assert_eq!(kind_of(url, &broker.dead_letters(), FieldTable::default()).await, kind, "dead letters");
    }

    fn bus(&self) -> Arc<dyn EventBus> {
        match self {
            Self::InProcess { bus, .. } => Arc::new(bus.clone()),
            Self::RabbitMq { broker, .. } => Arc::new(broker.clone()),
        }
    }

    /// Every dead letter so far (taking them off RabbitMQ's queue).
    async fn dead_letters(&self) -> Vec<Dead> {
        match self {
            Self::InProcess { db, .. } => dead_letters::list(db)
                .await
                .unwrap()
                .into_iter()
                .map(|letter| Dead { routing_key: letter.routing_key, body: letter.body, reason: letter.reason })
                .collect(),
            Self::RabbitMq { broker, url } => {
                let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.unwrap();
                let channel = connection.create_channel().await.unwrap();
                let mut letters = Vec::new();
                while let Some(message) =
                    channel.basic_get(broker.dead_letters().as_str().into(), BasicGetOptions::default()).await.unwrap()
                {
                    let delivery = message.delivery;
                    let header =
                        |name: &str| match delivery.properties.headers().as_ref().and_then(|h| h.inner().get(name)) {
                            Some(AMQPValue::LongString(text)) => text.to_string(),
                            other => panic!("header {name}: {other:?}"),
                        };
                    letters.push(Dead {
                        routing_key: header("x-original-routing-key"),
                        body: delivery.data.clone(),
                        reason: header("x-death-reason"),
                    });
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                }
                connection.close(200, "done".into()).await.unwrap();
                letters
            }
        }
    }

    /// Closes the bus, and on RabbitMQ deletes every queue and exchange the test declared.
    async fn clean_up(self) {
        match self {
            Self::InProcess { bus, .. } => bus.close().await,
            Self::RabbitMq { broker, url } => {
                EventBus::close(&broker).await;
                let connection =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await.unwrap();
                let channel = connection.create_channel().await.unwrap();
                for queue in broker.consumer_queues().into_iter().chain([broker.dead_letters()]) {
                    channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
                }
                for exchange in [broker.exchange().to_owned(), broker.dead_letters()] {
                    channel.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await.unwrap();
                }
                connection.close(200, "done".into()).await.unwrap();
            }
        }
    }
}

/// Runs `check` on every adapter, cleaning each up even when the check fails.
async fn on_each_adapter(check: impl AsyncFn(&Adapter)) {
    for adapter in adapters().await {
        let outcome = AssertUnwindSafe(check(&adapter)).catch_unwind().await;
        adapter.clean_up().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

fn event(routing_key: &str, n: usize) -> Outgoing {
    Outgoing {
        id: uuid::Uuid::now_v7(),
        routing_key: routing_key.to_owned(),
        body: format!("{{\"n\":{n}}}").into_bytes(),
        created_at: chrono::Utc::now(),
        request_id: Some(format!("request-{n}")),
    }
}

/// Starts a consumer that reports every attempt, failing those `fail` picks.
fn consumer(
    bus: &Arc<dyn EventBus>,
    purpose: &'static str,
    bindings: &'static [&'static str],
    fail: impl Fn(&Message) -> bool + Send + Sync + 'static,
) -> UnboundedReceiver<Message> {
    let (attempts, received) = unbounded_channel();
    let handler: Handler = sync_handler(move |message: &Message| {
        let _ = attempts.send(message.clone());
        if fail(message) { Err(anyhow::anyhow!("refused {}", message.routing_key)) } else { Ok(()) }
    });
    let bus = Arc::clone(bus);
    tokio::spawn(async move { bus.consume(purpose, bindings, 8, handler).await });
    received
}

/// Publishes probes until each consumer has taken one.
async fn until_bound(bus: &dyn EventBus, consumers: &mut [&mut UnboundedReceiver<Message>]) {
    let mut bound = vec![false; consumers.len()];
    for _ in 0..100 {
        bus.publish(&[event(PROBE, 0)]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (consumer, bound) in consumers.iter_mut().zip(bound.iter_mut()) {
            while let Ok(message) = consumer.try_recv() {
                *bound |= message.routing_key == PROBE;
            }
        }
        if bound.iter().all(|bound| *bound) {
            return;
        }
    }
    panic!("the consumers never bound");
}

/// The next message that is not a probe.
async fn next(consumer: &mut UnboundedReceiver<Message>) -> Message {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), consumer.recv())
            .await
            .expect("an event in time")
            .expect("the consumer is running");
        if message.routing_key != PROBE {
            return message;
        }
    }
}

/// What arrives within a short while, probes left out.
async fn nothing_more(consumer: &mut UnboundedReceiver<Message>) -> Vec<Message> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::iter::from_fn(|| consumer.try_recv().ok()).filter(|message| message.routing_key != PROBE).collect()
}

#[tokio::test]
async fn each_consumer_gets_the_events_it_is_bound_to_in_publish_order() {
    on_each_adapter(async |adapter| {
        let (bus, name) = (adapter.bus(), adapter.name());
        bus.ready().await;
        let mut created = consumer(&bus, "created", &[PROBE, "post.created"], |_| false);
        let mut posts = consumer(&bus, "posts", &[PROBE, "post.*", "follow.created"], |_| false);
        until_bound(bus.as_ref(), &mut [&mut created, &mut posts]).await;
        let keys = ["post.created", "follow.created", "post.deleted", "user.deleted"];
        let events: Vec<Outgoing> = (0..40).map(|n| event(keys[n % keys.len()], n)).collect();
        for batch in events.chunks(7) {
            bus.publish(batch).await.unwrap();
        }
        for sent in &events {
            let expected = (sent.routing_key.clone(), sent.body.clone());
            if sent.routing_key == "post.created" {
                let got = next(&mut created).await;
                assert_eq!((got.routing_key, got.body), expected, "{}", name);
            }
            if sent.routing_key != "user.deleted" {
                let got = next(&mut posts).await;
                assert_eq!((got.routing_key, got.body), expected, "{}", name);
            }
        }
        assert!(nothing_more(&mut created).await.is_empty(), "{}", name);
        assert!(nothing_more(&mut posts).await.is_empty(), "{}", name);
        adapter.assert_queue_kinds().await;
        assert!(bus.is_up(), "{name}");
        bus.close().await;
        assert!(!bus.is_up(), "closed: {name}");
    })
    .await;
}

#[tokio::test]
async fn a_failing_event_is_retried_then_dead_lettered_and_a_passing_failure_is_not() {
    on_each_adapter(async |adapter| {
        let (bus, name) = (adapter.bus(), adapter.name());
        bus.ready().await;
        let failed_once = Mutex::new(HashSet::new());
        let mut attempts = consumer(&bus, "flaky", &[PROBE, "post.created", "post.deleted"], move |message| {
            message.routing_key == "post.deleted"
                || (message.routing_key == "post.created" && failed_once.lock().unwrap().insert(message.body.clone()))
        });
        until_bound(bus.as_ref(), &mut [&mut attempts]).await;
        let poison = event("post.deleted", 1);
        let transient = event("post.created", 2);
        bus.publish(&[poison.clone(), transient.clone()]).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..MAX_ATTEMPTS + 2 {
            seen.push(next(&mut attempts).await.body);
        }
        assert_eq!(seen.iter().filter(|body| **body == poison.body).count() as i64, MAX_ATTEMPTS, "{}", name);
        assert_eq!(seen.iter().filter(|body| **body == transient.body).count(), 2, "{}", name);
        assert!(nothing_more(&mut attempts).await.is_empty(), "no attempt after the last: {}", name);
        let letters = first_dead_letters(adapter).await;
        assert_eq!(
            letters,
            vec![Dead { routing_key: "post.deleted".into(), body: poison.body, reason: "refused post.deleted".into() }],
            "{}",
            name
        );
    })
    .await;
}

/// Dead letters of `adapter` once there are some (RabbitMQ routes them a moment after the last attempt).
async fn first_dead_letters(adapter: &Adapter) -> Vec<Dead> {
    for _ in 0..50 {
        let letters = adapter.dead_letters().await;
        if !letters.is_empty() {
            return letters;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

/// A deployment moving between one node and a cluster finds its dead-letter
/// queue already declared as the other kind: RabbitMQ refuses the declare and
/// closes the channel. The broker keeps that queue (and its letters) and still
/// connects, consumes and dead-letters.
#[tokio::test]
async fn a_dead_letter_queue_of_the_other_kind_is_kept_and_still_used() {
    let Some(url) = support::amqp() else { return };
    for (existing, wanted) in [(QueueType::Classic, QueueType::Quorum), (QueueType::Quorum, QueueType::Classic)] {
        let adapter = rabbitmq(&url, wanted);
        let Adapter::RabbitMq { broker, .. } = &adapter else { unreachable!() };
        let dead = broker.dead_letters();
        let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await.unwrap();
        let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        let arguments = existing.declare_arguments(FieldTable::default());
        let channel = connection.create_channel().await.unwrap();
        channel.queue_declare(dead.as_str().into(), durable, arguments).await.unwrap();
        connection.close(200, "done".into()).await.unwrap();
        let outcome = AssertUnwindSafe(async {
            let bus = adapter.bus();
            tokio::time::timeout(Duration::from_secs(10), bus.ready()).await.expect("connected despite the refusal");
            let mut attempts = consumer(&bus, "buried", &[PROBE, "post.deleted"], |m| m.routing_key != PROBE);
            until_bound(bus.as_ref(), &mut [&mut attempts]).await;
            let poison = event("post.deleted", 1);
            bus.publish(std::slice::from_ref(&poison)).await.unwrap();
            for _ in 0..MAX_ATTEMPTS {
                assert_eq!(next(&mut attempts).await.body, poison.body);
            }
            let letters = first_dead_letters(&adapter).await;
            assert_eq!(letters.len(), 1, "{existing} kept for {wanted}");
            assert_eq!(kind_of(&url, &dead, FieldTable::default()).await, existing, "the existing queue is kept");
            let consumer_queue = broker.consumer_queues().pop().expect("one consumer queue");
            let mut expires = FieldTable::default();
            expires.insert("x-expires".into(), AMQPValue::LongLongInt(QUEUE_EXPIRES_MS));
            assert_eq!(kind_of(&url, &consumer_queue, expires).await, wanted, "new queues are of the wanted kind");
        })
        .catch_unwind()
        .await;
        adapter.clean_up().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

/// The private cluster of `scripts/rabbit-cluster.sh`, when its three nodes
/// run: its `AMQP_URL` and each node's pid file.
fn running_cluster() -> Option<(String, Vec<PathBuf>)> {
    let state = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rabbit-cluster");
    let settings = std::fs::read_to_string(state.join("cluster.env")).ok()?;
    let urls = settings.lines().find_map(|line| line.strip_prefix("AMQP_URL="))?.to_owned();
    let pid_files: Vec<PathBuf> = (1..=3).map(|n| state.join(format!("r{n}/rabbit.pid"))).collect();
    pid_files
        .iter()
        .all(|file| node_pid(file).is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()))
        .then_some((urls, pid_files))
}

fn node_pid(file: &Path) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Runs only while `scripts/rabbit-cluster.sh start` has its cluster up (not
/// in CI): kills -9 the node a fresh broker connects to (the first of
/// `AMQP_URL`) while publishing one event every 20 ms, the way the relay does
/// (a failed publish is published again once the bus is back), then starts
/// the node again. Every event arrives, first arrivals in publish order, and
/// deliveries resume within 3 s.
#[tokio::test]
async fn on_a_cluster_the_loss_of_a_node_loses_no_event() {
    let Some((urls, pid_files)) = running_cluster() else { return };
    let exchange = format!("test.{}", uuid::Uuid::now_v7().simple());
    let broker = Broker::new(urls.clone().into(), &exchange);
    assert_eq!(broker.queue_type(), QueueType::Quorum, "a cluster's default");
    // Declares, reads and cleans up through a node that stays up.
    let survivor = infrastructure::messaging::node_urls(&urls).nth(1).expect("three nodes").to_owned();
    let adapter = Adapter::RabbitMq { broker, url: survivor };
    let outcome = AssertUnwindSafe(async {
        let bus = adapter.bus();
        bus.ready().await;
        let mut received = consumer(&bus, "survivor", &[PROBE, "post.created"], |_| false);
        until_bound(bus.as_ref(), &mut [&mut received]).await;
        let events: Vec<Outgoing> = (0..150).map(|n| event("post.created", n)).collect();
        let kill_at = 50;
        let (publisher, sent) = (Arc::clone(&bus), events.clone());
        let first_node = pid_files[0].clone();
        let (killed_tx, killed_rx) = tokio::sync::oneshot::channel();
        let publishing = tokio::spawn(async move {
            let mut killed_tx = Some(killed_tx);
            for (n, event) in sent.iter().enumerate() {
                if n == kill_at {
                    let pid = node_pid(&first_node).expect("the node's pid").to_string();
                    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
                    let _ = killed_tx.take().map(|tx| tx.send(Instant::now()));
                }
                while publisher.publish(std::slice::from_ref(event)).await.is_err() {
                    publisher.ready().await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let mut firsts = Vec::new();
        let mut seen = HashSet::new();
        let mut resumed = None;
        let mut killed_rx = Some(killed_rx);
        let mut killed_at = None;
        while firsts.len() < events.len() {
            let message = next(&mut received).await;
            if killed_at.is_none()
                && let Some(at) = killed_rx.as_mut().and_then(|rx| rx.try_recv().ok())
            {
                killed_at = Some(at);
            }
            if seen.insert(message.body.clone()) {
                firsts.push(message.body);
                if firsts.len() > kill_at && resumed.is_none() {
                    resumed = killed_at.map(|at: Instant| at.elapsed());
                }
            }
        }
        publishing.await.unwrap();
        let bodies: Vec<Vec<u8>> = events.into_iter().map(|event| event.body).collect();
        assert_eq!(firsts, bodies, "every event, first arrivals in publish order");
        let resumed = resumed.expect("an event published after the kill arrived");
        eprintln!("deliveries resumed {resumed:?} after the kill");
        assert!(resumed < Duration::from_secs(3), "deliveries resumed {resumed:?} after the kill");
    })
    .catch_unwind()
    .await;
    adapter.clean_up().await;
    if running_cluster().is_none() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/rabbit-cluster.sh");
        assert!(std::process::Command::new(script).args(["restart", "1"]).status().unwrap().success());
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
