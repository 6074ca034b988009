//! `bench --mode queues`: RabbitMQ's rates through this repository's own
//! publishing path, with classic and with quorum queues, on `AMQP_URL` (one
//! node or a cluster's list):
//!
//! * publish: `--messages` events through `Broker::publish` (the relay's call:
//!   persistent, publisher confirms, batches of `relay::BATCH`) into a topic
//!   exchange with one durable queue of the kind bound to it;
//! * deliver: the same messages consumed from that queue, prefetch 200, one ack each;
//! * relay: `--messages` outbox rows written to a scratch PostgreSQL database
//!   (`DATABASE_SERVER`), drained by the real `Relay` into the same kind of queue:
//!   read, publish with confirms, mark published.
//!
//! Every exchange, queue and the database are removed at the end.

use anyhow::{Context, bail};
use futures::StreamExt;
use infrastructure::messaging::{Broker, EventBus, Outgoing, QueueType, Relay, relay::BATCH};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Messages the consumer may hold unacknowledged.
const PREFETCH: u16 = 200;

pub async fn queues(messages: usize, server: &str, stamp: i64) -> anyhow::Result<()> {
    let url = std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let nodes = infrastructure::messaging::node_urls(&url).count();
    // Declaring, consuming and cleaning up go through one node: any serves the whole cluster.
    let node = infrastructure::messaging::node_urls(&url).next().context("AMQP_URL names no node")?.to_owned();
    println!("{messages} messages of ~120 bytes per measurement; {nodes} RabbitMQ node(s) in AMQP_URL");
    println!(
        "| queue | publish (confirmed, batches of {BATCH}) | deliver (prefetch {PREFETCH}, acked) | relay (PostgreSQL outbox -> confirmed publish -> marked) |"
    );
    println!("|---|---|---|---|");
    for kind in [QueueType::Classic, QueueType::Quorum] {
        let exchange = format!("bench.queues.{stamp}.{kind}");
        let broker = Broker::new(url.clone().into(), &exchange).with_queue_type(kind);
        let outcome = measure(&broker, &node, kind, messages, server, stamp).await;
        let removed = remove(&node, &exchange).await;
        EventBus::close(&broker).await;
        let (publish, deliver, relay) = outcome?;
        removed?;
        println!("| {kind} | {publish:.0} msg/s | {deliver:.0} msg/s | {relay:.0} events/s |");
    }
    Ok(())
}

/// Publish, deliver and relay rates for one kind of queue; `url` is one node's.
async fn measure(
    broker: &Broker,
    url: &str,
    kind: QueueType,
    messages: usize,
    server: &str,
    stamp: i64,
) -> anyhow::Result<(f64, f64, f64)> {
    broker.ready().await;
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let sink = format!("{}.sink", broker.exchange());
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(sink.as_str().into(), durable, kind.declare_arguments(FieldTable::default())).await?;
    channel
        .queue_bind(
            sink.as_str().into(),
            broker.exchange().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let events: Vec<Outgoing> = (0..messages).map(event).collect();
    let started = Instant::now();
    for batch in events.chunks(BATCH) {
        broker.publish(batch).await?;
    }
    let publish = rate(messages, started.elapsed());

    channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let mut deliveries = channel
        .basic_consume(sink.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    let started = Instant::now();
    for _ in 0..messages {
        let delivery = tokio::time::timeout(Duration::from_secs(30), deliveries.next())
            .await
            .context("a delivery within 30 s")?
            .context("the consumer ended")??;
        delivery.ack(BasicAckOptions::default()).await?;
    }
    let deliver = rate(messages, started.elapsed());
    drop(deliveries);
    channel.queue_purge(sink.as_str().into(), lapin::options::QueuePurgeOptions::default()).await?;

    let relay = relay(broker, messages, server, &format!("bench_queues_{stamp}_{kind}")).await?;
    connection.close(200, "done".into()).await?;
    Ok((publish, deliver, relay))
}

fn event(n: usize) -> Outgoing {
    let id = uuid::Uuid::now_v7();
    Outgoing {
        id,
        routing_key: "bench.event".into(),
        body: format!(r#"{{"id":"{id}","type":"bench.event","created_at":"2026-11-30T00:00:00Z","data":{{"n":{n}}}}}"#)
            .into_bytes(),
        created_at: chrono::Utc::now(),
        request_id: None,
    }
}

fn rate(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// Events/s of the real relay draining `messages` outbox rows of a scratch database.
async fn relay(broker: &Broker, messages: usize, server: &str, database: &str) -> anyhow::Result<f64> {
    let database_url = format!("{server}/{database}");
    let outcome = drain(broker, messages, &database_url).await;
    let (client, connection) = tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)")).await?;
    outcome
}

async fn drain(broker: &Broker, messages: usize, database_url: &str) -> anyhow::Result<f64> {
    // Creates and migrates the database.
    drop(infrastructure::persistence::connect(database_url, 1).await?);
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let rows = i64::try_from(messages)?;
    client
        .execute(
            "INSERT INTO outbox (id, event_type, payload, created_at) \
             SELECT gen_random_uuid(), 'bench.event', jsonb_build_object('n', n), now() FROM generate_series(1, $1::bigint) AS n",
            &[&rows],
        )
        .await?;
    let bus: Arc<dyn EventBus> = Arc::new(broker.clone());
    let relay = Relay::postgres(database_url.to_owned(), bus, Arc::new(Notify::new()), Duration::from_millis(100));
    let started = Instant::now();
    let running = tokio::spawn(relay.run());
    let outcome = async {
        loop {
            let row = client.query_one("SELECT count(*) FROM outbox WHERE published_at IS NULL", &[]).await?;
            if row.get::<_, i64>(0) == 0 {
                return Ok(rate(messages, started.elapsed()));
            }
            if started.elapsed() > Duration::from_secs(300) {
                bail!("the relay did not drain {messages} rows in 300 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    .await;
    running.abort();
    outcome
}

/// Removes the exchange of a measurement with its queues.
async fn remove(url: &str, exchange: &str) -> anyhow::Result<()> {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let dead = format!("{exchange}.dead");
    for queue in [format!("{exchange}.sink"), dead.clone()] {
        channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await?;
    }
    for name in [dead.as_str(), exchange] {
        channel.exchange_delete(name.into(), ExchangeDeleteOptions::default()).await?;
    }
    connection.close(200, "done".into()).await?;
    Ok(())
}
