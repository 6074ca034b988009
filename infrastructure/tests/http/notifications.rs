//! Mentions, the notification list, the unread count and the read marker.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_mention_makes_one_notification_carrying_the_post() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("Bob").await;
    let post = app.publish(&alice, "hey @bob and @BOB and @nobody, mail a@bob.com").await;
    assert_eq!(post["mentions"], json!([{"id": bob.id, "username": "Bob"}]));
    assert_eq!(app.outbox("post.created").await, 1);
    assert_eq!(app.outbox("notification.created").await, 1);

    let list = app.get_json(&bob, "/api/v1/notifications").await;
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["type"], "mention");
    assert_eq!(items[0]["actor"]["username"], "alice");
    assert_eq!(items[0]["post"], post);
    assert_eq!(items[0]["read"], false);
    assert_eq!(app.get_json(&alice, "/api/v1/notifications").await["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn mentioning_yourself_notifies_no_one() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    app.publish(&alice, "note to @alice").await;
    assert_eq!(app.count("SELECT count(*) FROM notifications").await, 0);
    assert_eq!(app.outbox("notification.created").await, 0);
}

#[tokio::test]
async fn the_read_marker_zeroes_the_unread_count_up_to_its_id() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let carol = app.signed_in("carol").await;
    app.publish(&alice, "@bob one").await;
    app.follow(&carol, &bob).await;
    app.publish(&carol, "@bob two").await;
    assert_eq!(app.get_json(&bob, "/api/v1/notifications/unread_count").await, json!({"count": 3}));

    let list = app.get_json(&bob, "/api/v1/notifications").await;
    let ids = ids(&list);
    let middle = &ids[1];
    let read = app
        .post("/api/v1/notifications/read")
        .bearer_auth(&bob.access)
        .json(&json!({"up_to": middle}))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&bob, "/api/v1/notifications/unread_count").await, json!({"count": 1}));
    let flags: Vec<bool> = app.get_json(&bob, "/api/v1/notifications").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["read"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, true, true]);

    app.post("/api/v1/notifications/read")
        .bearer_auth(&bob.access)
        .json(&json!({"up_to": ids[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(app.get_json(&bob, "/api/v1/notifications/unread_count").await, json!({"count": 0}));
    app.post("/api/v1/notifications/read")
        .bearer_auth(&bob.access)
        .json(&json!({"up_to": ids[2]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.get_json(&bob, "/api/v1/notifications/unread_count").await,
        json!({"count": 0}),
        "the marker never moves back"
    );
}

#[tokio::test]
async fn the_read_marker_needs_an_id() {
    let app = spawn_app().await;
    let bob = app.signed_in("bob").await;
    for body in [json!({}), json!({"up_to": "not-an-id"})] {
        let response =
            app.post("/api/v1/notifications/read").bearer_auth(&bob.access).json(&body).send().await.unwrap();
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
}

#[tokio::test]
async fn notifications_page_by_cursor() {
    let app = spawn_app().await;
    let bob = app.signed_in("bob").await;
    let alice = app.signed_in("alice").await;
    for n in 0..5 {
        app.publish(&alice, &format!("@bob number {n}")).await;
    }
    let first = app.get_json(&bob, "/api/v1/notifications?limit=3").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get_json(&bob, &format!("/api/v1/notifications?limit=3&before={cursor}")).await;
    let mut all = ids(&first);
    all.extend(ids(&second));
    assert_eq!(all.len(), 5);
    assert_eq!(second["next_cursor"], Value::Null);
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(all, sorted, "newest first");
}
