//! End to end across processes and the broker: events written while RabbitMQ
//! is unreachable, dead letters, revocation between api instances, a broker
//! outage. Served family only: the embedded family has one process and no broker.

use reqwest::StatusCode;
use std::time::Duration;

use crate::helpers::*;
use crate::live::assert_silent;

#[tokio::test]
async fn events_written_while_the_broker_is_unreachable_reach_followers_once_when_it_returns() {
    let database = format!("test_{}", uuid::Uuid::now_v7().simple());
    let cut_off = spawn_on(&database, &[("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")]).await;
    let notifier = spawn_notifier(&cut_off).await;
    let author = cut_off.signed_in("author").await;
    let fan = cut_off.signed_in("fan").await;
    cut_off.follow(&fan, &author).await;
    let mut socket = connect(&notifier, &fan, "").await;
    let mut posted = Vec::new();
    for n in 0..4 {
        posted.push(cut_off.publish(&author, &format!("while down {n}")).await["id"].clone());
    }
    assert_silent(&mut socket).await;

    let _restored = spawn_app_owning(&database).await;
    for expected in &posted {
        assert_eq!(&next_event(&mut socket).await["id"], expected);
    }
    assert_silent(&mut socket).await;
}

#[tokio::test]
async fn a_message_that_cannot_be_handled_is_retried_then_dead_lettered_with_its_reason() {
    use lapin::options::{BasicGetOptions, BasicPublishOptions};
    use lapin::{BasicProperties, Connection, ConnectionProperties};
    let app = spawn_app().await;
    let _notifier = spawn_notifier(&app).await;
    let exchange = exchange_of(&app.database);
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .basic_publish(
            exchange.as_str().into(),
            "post.created".into(),
            BasicPublishOptions::default(),
            b"not json",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    let dead = format!("{exchange}.dead");
    let mut buried = None;
    for _ in 0..100 {
        if let Some(message) = channel.basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap()
        {
            buried = Some(message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let buried = buried.expect("the message reaches the dead-letter queue");
    assert_eq!(&buried.delivery.data[..], b"not json");
    let headers = buried.delivery.properties.headers().clone().unwrap();
    let Some(lapin::types::AMQPValue::LongString(reason)) = headers.inner().get("x-death-reason") else {
        panic!("no reason header: {headers:?}");
    };
    let reason = String::from_utf8_lossy(reason.as_bytes()).into_owned();
    assert!(reason.contains("event envelope"), "{reason}");
    assert_eq!(format!("{:?}", headers.inner().get("x-attempts").unwrap()), "LongLongInt(3)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        channel.basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap().is_none(),
        "buried once, not looping"
    );
}

#[tokio::test]
async fn a_token_revoked_on_one_api_instance_is_refused_by_another_at_once() {
    let app = spawn_app().await;
    let other = spawn_on(&app.database, &[]).await;
    wait_ready(&app.address).await;
    wait_ready(&other.address).await;
    let alice = app.signed_in("alice").await;
    let me = || other.get("/api/v1/users/me").bearer_auth(&alice.access).send();
    assert_eq!(me().await.unwrap().status(), StatusCode::OK, "the other instance knew nothing of it yet");
    app.post("/api/v1/auth/logout").bearer_auth(&alice.access).send().await.unwrap();
    let mut status = me().await.unwrap().status();
    for _ in 0..50 {
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = me().await.unwrap().status();
    }
    assert_problem(me().await.unwrap(), StatusCode::UNAUTHORIZED, "token_revoked").await;
}

#[tokio::test]
async fn with_the_broker_down_a_token_revoked_on_one_instance_is_refused_by_another_within_2_s() {
    let database = format!("test_{}", uuid::Uuid::now_v7().simple());
    let no_broker = ("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f");
    let app = spawn_owning(&database, &[no_broker]).await;
    let other = spawn_on(&database, &[no_broker]).await;
    let alice = app.signed_in("alice").await;
    let me = || other.get("/api/v1/users/me").bearer_auth(&alice.access).send();
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);
    app.post("/api/v1/auth/logout").bearer_auth(&alice.access).send().await.unwrap();
    let logged_out = std::time::Instant::now();
    while me().await.unwrap().status() == StatusCode::OK {
        assert!(logged_out.elapsed() < Duration::from_secs(2), "still accepted 2 s after the logout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("refused by the other instance {} ms after the logout", logged_out.elapsed().as_millis());
    assert_problem(me().await.unwrap(), StatusCode::UNAUTHORIZED, "token_revoked").await;
}

#[tokio::test]
async fn after_a_broker_outage_deliveries_resume_promptly_and_nothing_is_lost_or_doubled() {
    let switch = crate::switch::Switch::start(5672).await;
    let amqp = format!("amqp://guest:guest@127.0.0.1:{}/%2f", switch.port);
    let app = spawn_with(&[("AMQP_URL", amqp.as_str())]).await;
    let notifier = spawn_notifier_with(&app, &[("AMQP_URL", amqp.as_str())]).await;
    let author = app.signed_in("author").await;
    let fan = app.signed_in("fan").await;
    app.follow(&fan, &author).await;
    let mut socket = connect(&notifier, &fan, "").await;
    let before = app.publish(&author, "before the outage").await;
    assert_eq!(next_event(&mut socket).await["id"], before["id"]);

    switch.cut().await;
    let mut posted = Vec::new();
    for n in 0..3 {
        posted.push(app.publish(&author, &format!("during the outage {n}")).await["id"].clone());
    }
    // Long enough for an uncapped exponential backoff to be sleeping for seconds.
    tokio::time::sleep(Duration::from_secs(7)).await;
    switch.restore();
    let restored = std::time::Instant::now();
    for expected in &posted {
        assert_eq!(&next_event(&mut socket).await["id"], expected);
    }
    let resumed = restored.elapsed();
    eprintln!("deliveries resumed {} ms after the broker answered again", resumed.as_millis());
    // The reconnection pause is capped at 2 s; the rest is one connection set-up.
    assert!(resumed < Duration::from_secs(4), "resumed after {resumed:?}");
    assert_silent(&mut socket).await;
}

#[tokio::test]
async fn with_a_list_of_nodes_the_services_use_the_one_that_answers() {
    let nodes = format!("amqp://guest:guest@127.0.0.1:1/%2f, {}", amqp_url());
    let app = spawn_with(&[("AMQP_URL", nodes.as_str())]).await;
    let notifier = spawn_notifier_with(&app, &[("AMQP_URL", nodes.as_str())]).await;
    let author = app.signed_in("author").await;
    let fan = app.signed_in("fan").await;
    app.follow(&fan, &author).await;
    let mut socket = connect(&notifier, &fan, "").await;
    let post = app.publish(&author, "through the second node").await;
    assert_eq!(next_event(&mut socket).await["id"], post["id"]);
}
