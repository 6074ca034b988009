//! The outbox relay: events reach RabbitMQ once each, in order, even when the
//! broker was unreachable while they were written.

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use serde_json::Value;
use std::time::Duration;

use crate::helpers::*;

/// A private queue bound to every event of `exchange`.
async fn tap(exchange: &str) -> (Connection, lapin::Consumer) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel.exchange_declare(exchange.into(), ExchangeKind::Topic, durable, FieldTable::default()).await.unwrap();
    let private = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare("".into(), private, FieldTable::default()).await.unwrap();
    channel
        .queue_bind(
            queue.name().clone(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let consumer = channel
        .basic_consume(queue.name().clone(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    (connection, consumer)
}

/// The next `n` messages (failing after 15 s without one), acked.
async fn receive(consumer: &mut lapin::Consumer, n: usize) -> Vec<(Value, lapin::BasicProperties, String)> {
    let mut received = Vec::new();
    while received.len() < n {
        let delivery = tokio::time::timeout(Duration::from_secs(15), consumer.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        received.push((
            serde_json::from_slice(&delivery.data).unwrap(),
            delivery.properties.clone(),
            delivery.routing_key.to_string(),
        ));
    }
    received
}

/// Unpublished outbox rows, waiting up to 5 s for them to reach 0: a row is
/// marked after its confirm, which may come after a consumer already got it.
async fn unpublished_once_settled(app: &TestApp) -> i64 {
    let mut unpublished = 0;
    for _ in 0..50 {
        unpublished = app.count("SELECT count(*) FROM outbox WHERE published_at IS NULL").await;
        if unpublished == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unpublished
}

#[tokio::test]
async fn a_post_reaches_the_exchange_as_a_persistent_confirmed_message() {
    let app = spawn_app().await;
    let (_connection, mut consumer) = tap(&exchange_of(&app.database)).await;
    let alice = app.signed_in("alice").await;
    let response = app
        .post("/api/v1/posts")
        .bearer_auth(&alice.access)
        .header("x-request-id", "trace-me-1")
        .json(&serde_json::json!({"content": "to the broker"}))
        .send()
        .await
        .unwrap();
    let post: Value = response.json().await.unwrap();
    let (event, properties, routing_key) = receive(&mut consumer, 1).await.remove(0);
    assert_eq!(routing_key, "post.created");
    assert_eq!(event["type"], "post.created");
    assert_eq!(event["id"], post["id"], "a post.created event carries its post's id");
    assert_eq!(event["data"]["post"], post);
    assert_eq!(properties.message_id().as_ref().map(|m| m.to_string()), post["id"].as_str().map(str::to_owned));
    assert_eq!(properties.delivery_mode(), &Some(2));
    assert_eq!(properties.content_type().as_ref().map(|c| c.to_string()).as_deref(), Some("application/json"));
    let headers = properties.headers().clone().unwrap();
    assert_eq!(
        format!("{:?}", headers.inner().get("x-request-id").unwrap()),
        format!("{:?}", lapin::types::AMQPValue::LongString("trace-me-1".into()))
    );
    assert_eq!(unpublished_once_settled(&app).await, 0);
}

#[tokio::test]
async fn posts_made_while_the_broker_is_unreachable_arrive_once_in_order_when_it_returns() {
    let database = format!("test_{}", uuid::Uuid::now_v7().simple());
    let (_connection, mut consumer) = tap(&exchange_of(&database)).await;
    let cut_off = spawn_on(&database, &[("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")]).await;
    let alice = cut_off.signed_in("alice").await;
    let mut posted = Vec::new();
    for n in 0..5 {
        posted.push(cut_off.publish(&alice, &format!("offline {n}")).await["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(cut_off.count("SELECT count(*) FROM outbox WHERE published_at IS NULL").await, 5, "the backlog waits");

    let restored = spawn_app_owning(&database).await;
    let events = receive(&mut consumer, 5).await;
    let ids: Vec<String> = events.iter().map(|(e, _, _)| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, posted, "every event once, in order");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(tokio::time::timeout(Duration::from_millis(300), consumer.next()).await.is_err(), "no duplicate");
    assert_eq!(unpublished_once_settled(&restored).await, 0);
}

#[tokio::test]
async fn a_commit_on_any_instance_wakes_the_relay_of_the_instance_holding_the_lock() {
    // With a one-minute poll, only the commit's notification can make the
    // relay publish what the instance without the lock wrote.
    let database = format!("test_{}", uuid::Uuid::now_v7().simple());
    let slow_poll = ("OUTBOX_POLL_MS", "60000");
    let first = spawn_owning(&database, &[slow_poll]).await;
    let second = spawn_on(&database, &[slow_poll]).await;
    wait_ready(&first.address).await;
    wait_ready(&second.address).await;
    let (_connection, mut consumer) = tap(&exchange_of(&database)).await;
    let alice = first.signed_in("alice").await;
    receive(&mut consumer, 0).await;
    for (n, instance) in [&first, &second, &second, &first].into_iter().enumerate() {
        let post = instance.publish(&alice, &format!("post {n}")).await;
        let (event, _, _) = receive(&mut consumer, 1).await.pop().unwrap();
        assert_eq!(event["id"], post["id"], "post {n}");
    }
}
