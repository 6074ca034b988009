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
pub async fn assert_silent(socket: &mut Socket) {
    if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(QUIET, socket.next()).await {
        panic!("unexpected event: {text}");
    }
}

/// The close code the server ends `socket` with.
pub async fn close_code(socket: &mut Socket) -> u16 {
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
async fn shutting_the_notifier_down_closes_sockets_with_1001() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let fan = app.signed_in("fan").await;
    let mut socket = connect(&notifier, &fan, "").await;
    notifier.stopper.stop().await;
    assert_eq!(close_code(&mut socket).await, u16::from(CloseCode::Away));
}
