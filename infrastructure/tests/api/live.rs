//! End to end: api and notifier on port 0, real PostgreSQL and RabbitMQ, real
//! WebSocket clients.

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::*;

/// How long a test listens to be sure nothing comes.
const QUIET: Duration = Duration::from_millis(700);

/// Asserts that no event arrives for a while.
async fn assert_silent(socket: &mut Socket) {
    if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(QUIET, socket.next()).await {
        panic!("unexpected event: {text}");
    }
}

/// The close code the server ends `socket` with.
async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.expect("a close in time") {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("socket error: {e}"),
        }
    }
}

#[tokio::test]
async fn a_follower_gets_post_created_and_post_deleted_and_a_stranger_nothing() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let author = app.signed_in("author").await;
    let fan = app.signed_in("fan").await;
    let stranger = app.signed_in("stranger").await;
    app.follow(&fan, &author).await;
    let mut fan_socket = connect(&notifier, &fan, "").await;
    let mut stranger_socket = connect(&notifier, &stranger, "").await;

    let post = app.publish(&author, "hello followers").await;
    let created = next_event(&mut fan_socket).await;
    assert_eq!(created["type"], "post.created");
    assert_eq!(created["id"], post["id"]);
    assert_eq!(created["data"]["post"], post);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let path = format!("/api/v1/posts/{}", post["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).bearer_auth(&author.access).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let deleted = next_event(&mut fan_socket).await;
    assert_eq!(deleted["type"], "post.deleted");
    assert_eq!(deleted["data"], json!({"post_id": post["id"], "author_id": author.id}));
    assert_silent(&mut stranger_socket).await;
}

#[tokio::test]
async fn every_session_of_a_user_gets_each_event() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let author = app.signed_in("author").await;
    let fan = app.signed_in("fan").await;
    app.follow(&fan, &author).await;
    let mut sockets = vec![
        connect(&notifier, &fan, "").await,
        connect(&notifier, &fan, "").await,
        connect(&notifier, &fan, "").await,
    ];
    let post = app.publish(&author, "to all your devices").await;
    for socket in &mut sockets {
        assert_eq!(next_event(socket).await["id"], post["id"]);
    }
}

#[tokio::test]
async fn a_follow_made_while_connected_takes_effect_and_an_unfollow_stops_delivery() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let author = app.signed_in("author").await;
    let fan = app.signed_in("fan").await;
    let mut socket = connect(&notifier, &fan, "").await;
    app.publish(&author, "before the follow").await;
    assert_silent(&mut socket).await;

    app.follow(&fan, &author).await;
    let post = app.publish(&author, "after the follow").await;
    assert_eq!(next_event(&mut socket).await["id"], post["id"]);

    app.delete(&format!("/api/v1/users/{}/follow", author.id)).bearer_auth(&fan.access).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.publish(&author, "after the unfollow").await;
    assert_silent(&mut socket).await;
}

#[tokio::test]
async fn a_mention_and_a_follow_push_notifications_to_the_user_concerned() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let mut bobs = connect(&notifier, &bob, "").await;
    let post = app.publish(&alice, "hey @bob").await;
    let event = next_event(&mut bobs).await;
    assert_eq!(event["type"], "notification");
    assert_eq!(event["data"]["notification"]["type"], "mention");
    assert_eq!(event["data"]["notification"]["post"], post);
    let listed = app.get_json(&bob, "/api/v1/notifications").await;
    assert_eq!(event["id"], listed["data"][0]["id"], "the event id is the notification's id");

    app.follow(&alice, &bob).await;
    let event = next_event(&mut bobs).await;
    assert_eq!(event["data"]["notification"]["type"], "follow");
    assert_eq!(event["data"]["notification"]["actor"]["id"], alice.id.as_str());
}

#[tokio::test]
async fn a_ticket_opens_one_socket_once() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let fan = app.signed_in("fan").await;
    let response = app.post("/api/v1/auth/ws-ticket").bearer_auth(&fan.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let ticket: Value = response.json().await.unwrap();
    assert_eq!(ticket["expires_in"], 30);
    let url = notifier.ws_url(&format!("?ticket={}", ticket["ticket"].as_str().unwrap()));
    let (mut socket, _) = connect_async(url.as_str()).await.unwrap();
    socket.send(Message::Ping(vec![1].into())).await.unwrap();
    match connect_async(url.as_str()).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("a used ticket was accepted: {:?}", other.map(|_| ())),
    }
    let anonymous = app.post("/api/v1/auth/ws-ticket").send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn no_token_or_a_garbage_token_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    for (header, query) in [(None, ""), (Some("Bearer garbage"), ""), (None, "?ticket=nope")] {
        let mut request = notifier.ws_url(query).into_client_request().unwrap();
        if let Some(value) = header {
            request.headers_mut().insert("authorization", value.parse().unwrap());
        }
        match connect_async(request).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401, "{header:?} {query}"),
            other => panic!("accepted {header:?} {query}: {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn logout_closes_the_socket_with_4001() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let fan = app.signed_in("fan").await;
    let mut socket = connect(&notifier, &fan, "").await;
    let response = app.post("/api/v1/auth/logout").bearer_auth(&fan.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(close_code(&mut socket).await, 4001);
}

#[tokio::test]
async fn deleting_the_account_closes_its_sockets_with_4001() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let fan = app.signed_in("fan").await;
    let mut socket = connect(&notifier, &fan, "").await;
    app.delete("/api/v1/users/me").bearer_auth(&fan.access).send().await.unwrap();
    assert_eq!(close_code(&mut socket).await, 4001);
}

#[tokio::test]
async fn reconnecting_with_since_replays_the_missed_posts_in_order_then_live_ones_once() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let author = app.signed_in("author").await;
    let fan = app.signed_in("fan").await;
    app.follow(&fan, &author).await;
    let mut socket = connect(&notifier, &fan, "").await;
    let seen = app.publish(&author, "seen live").await;
    assert_eq!(next_event(&mut socket).await["id"], seen["id"]);
    socket.close(None).await.unwrap();

    let mut missed = Vec::new();
    for n in 0..3 {
        missed.push(app.publish(&author, &format!("missed {n}")).await["id"].clone());
    }
    let mut socket = connect(&notifier, &fan, &format!("?since={}", seen["id"].as_str().unwrap())).await;
    for expected in &missed {
        assert_eq!(&next_event(&mut socket).await["id"], expected);
    }
    let live = app.publish(&author, "live again").await;
    assert_eq!(next_event(&mut socket).await["id"], live["id"]);
    assert_silent(&mut socket).await;
}

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
async fn shutting_the_notifier_down_closes_sockets_with_1001() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let fan = app.signed_in("fan").await;
    let mut socket = connect(&notifier, &fan, "").await;
    notifier.stopper.stop().await;
    assert_eq!(close_code(&mut socket).await, u16::from(CloseCode::Away));
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
