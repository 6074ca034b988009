//! Webhook dead letters and their replay through RabbitMQ's queues (served
//! family; the embedded pipeline's are checked by the contract tests).

use reqwest::StatusCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::helpers::*;
use crate::webhooks::{Receiver, register};

#[tokio::test]
async fn a_failing_receiver_is_retried_then_dead_lettered_and_replay_delivers_it() {
    retried_dead_lettered_and_replayed("classic").await;
}

/// The retry queues' TTL and dead-lettering work the same on quorum queues.
#[tokio::test]
async fn on_quorum_queues_a_failing_receiver_is_retried_then_dead_lettered_and_replayed() {
    retried_dead_lettered_and_replayed("quorum").await;
}

async fn retried_dead_lettered_and_replayed(queue_type: &str) {
    let app = spawn_with(&[("WEBHOOK_MAX_RETRY", "2"), ("AMQP_QUEUE_TYPE", queue_type)]).await;
    wait_ready(&app.address).await;
    let receiver = Receiver::start().await;
    receiver.status.store(500, Ordering::SeqCst);
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    register(&app, &alice, &receiver.url).await;
    app.publish(&bob, "ping @alice").await;

    let attempts = receiver.wait_for(2).await;
    assert_eq!(attempts[0].event_id, attempts[1].event_id, "the same delivery, retried");
    let connection = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let dead = format!("{}.webhooks.dead", exchange_of(&app.database));
    let passive = lapin::options::QueueDeclareOptions { passive: true, durable: true, ..Default::default() };
    let mut buried = 0;
    for _ in 0..100 {
        buried = channel
            .queue_declare(dead.as_str().into(), passive, lapin::types::FieldTable::default())
            .await
            .unwrap()
            .message_count();
        if buried == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(buried, 1, "dead-lettered after WEBHOOK_MAX_RETRY attempts");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received.lock().unwrap().len(), 2, "no third attempt on its own");

    receiver.status.store(200, Ordering::SeqCst);
    let broker = infrastructure::messaging::Broker::new(amqp_url().into(), &exchange_of(&app.database));
    assert_eq!(infrastructure::webhooks::replay_dead_letters(&broker).await.unwrap(), 1);
    let after = receiver.wait_for(3).await;
    assert_eq!(after[2].event_id, attempts[0].event_id);

    // RabbitMQ accepts a quorum declare of an existing queue only if it is a quorum queue.
    let deliver = format!("{}.webhooks.deliver", exchange_of(&app.database));
    let durable = lapin::options::QueueDeclareOptions { durable: true, ..Default::default() };
    let quorum = infrastructure::messaging::QueueType::Quorum.declare_arguments(lapin::types::FieldTable::default());
    let check = connection.create_channel().await.unwrap();
    let accepted = check.queue_declare(deliver.as_str().into(), durable, quorum).await.is_ok();
    assert_eq!(accepted, queue_type == "quorum", "the pipeline's queues are {queue_type} queues");
}

#[tokio::test]
async fn a_dead_lettered_failure_reason_carries_no_query_string() {
    let app = spawn_with(&[("WEBHOOK_MAX_RETRY", "1")]).await;
    wait_ready(&app.address).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let url = format!("http://127.0.0.1:{closed}/hook?token=s3cret-token&sig=abcdef123");
    assert_eq!(register(&app, &alice, &url).await.status(), StatusCode::CREATED);
    app.publish(&bob, "ping @alice").await;

    let connection = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let dead = format!("{}.webhooks.dead", exchange_of(&app.database));
    let mut buried = None;
    for _ in 0..100 {
        buried = channel.basic_get(dead.as_str().into(), lapin::options::BasicGetOptions::default()).await.unwrap();
        if buried.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let buried = buried.expect("the failed delivery is dead-lettered").delivery;
    let headers = buried.properties.headers().clone().unwrap_or_default();
    let reason = match headers.inner().get("x-death-reason") {
        Some(lapin::types::AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => panic!("no failure reason: {other:?}"),
    };
    assert!(reason.starts_with("could not connect"), "{reason}");
    for secret in ["s3cret", "token", "abcdef123", "?"] {
        assert!(!reason.contains(secret), "{secret:?} in {reason:?}");
    }
}
