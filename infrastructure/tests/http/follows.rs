//! Follow, unfollow, follower lists, profile counts, and deleting a user.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn following_is_idempotent_and_writes_one_follow_and_one_notification() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    app.follow(&alice, &bob).await;
    app.follow(&alice, &bob).await;
    assert_eq!(app.count("SELECT count(*) FROM follows").await, 1);
    assert_eq!(app.outbox("follow.created").await, 1);
    assert_eq!(app.outbox("notification.created").await, 1);
    let notifications = app.get_json(&bob, "/api/v1/notifications").await;
    assert_eq!(notifications["data"].as_array().unwrap().len(), 1);
    assert_eq!(notifications["data"][0]["type"], "follow");
    assert_eq!(notifications["data"][0]["actor"]["id"], alice.id.as_str());
    assert!(notifications["data"][0].get("post").is_none());
}

#[tokio::test]
async fn following_yourself_is_422_and_an_unknown_user_404() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let me = app
        .client
        .put(app.url(&format!("/api/v1/users/{}/follow", alice.id)))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap();
    assert_problem(me, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let nobody = uuid::Uuid::now_v7();
    let unknown = app
        .client
        .put(app.url(&format!("/api/v1/users/{nobody}/follow")))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "user_not_found").await;
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 0);
}

#[tokio::test]
async fn unfollowing_is_idempotent_and_writes_one_event() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    app.follow(&alice, &bob).await;
    for _ in 0..2 {
        let response =
            app.delete(&format!("/api/v1/users/{}/follow", bob.id)).bearer_auth(&alice.access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(app.count("SELECT count(*) FROM follows").await, 0);
    assert_eq!(app.outbox("follow.deleted").await, 1);
}

#[tokio::test]
async fn follower_lists_show_profiles_and_profiles_show_counts() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let carol = app.signed_in("carol").await;
    app.follow(&bob, &alice).await;
    app.follow(&carol, &alice).await;
    app.follow(&alice, &bob).await;
    app.publish(&alice, "one").await;
    app.publish(&alice, "two").await;

    let followers = app.get_json(&bob, &format!("/api/v1/users/{}/followers", alice.id)).await;
    let names: Vec<&str> =
        followers["data"].as_array().unwrap().iter().map(|p| p["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["carol", "bob"], "newest follow first");
    let first_page = app.get_json(&bob, &format!("/api/v1/users/{}/followers?limit=1", alice.id)).await;
    let cursor = first_page["next_cursor"].as_str().unwrap();
    let second_page =
        app.get_json(&bob, &format!("/api/v1/users/{}/followers?limit=1&before={cursor}", alice.id)).await;
    assert_eq!(second_page["data"][0]["username"], "bob");
    assert_eq!(second_page["next_cursor"], Value::Null);

    let following = app.get_json(&alice, &format!("/api/v1/users/{}/following", alice.id)).await;
    assert_eq!(following["data"][0]["username"], "bob");
    assert_eq!(following["data"][0]["followed_by_me"], true);

    let profile = app.get_json(&bob, &format!("/api/v1/users/{}", alice.id)).await;
    assert_eq!((profile["followers_count"].as_u64(), profile["following_count"].as_u64()), (Some(2), Some(1)));
    assert_eq!(profile["posts_count"], 2);
    assert_eq!(profile["followed_by_me"], true);
    let by_carol_of_bob = app.get_json(&carol, "/api/v1/users/lookup?username=bob").await;
    assert_eq!(by_carol_of_bob["followed_by_me"], false);

    let unknown = app
        .get(&format!("/api/v1/users/{}/followers", uuid::Uuid::now_v7()))
        .bearer_auth(&bob.access)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn deleting_a_user_removes_their_posts_follows_and_notifications() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    app.follow(&alice, &bob).await;
    app.follow(&bob, &alice).await;
    app.publish(&alice, "hi @bob").await;
    app.publish(&bob, "hello @alice").await;
    let owned_by = |column: &str, table: &str| format!("SELECT count(*) FROM {table} WHERE {column} = '{}'", alice.id);

    assert_eq!(
        app.delete("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    assert_eq!(app.count(&owned_by("author_id", "posts")).await, 0);
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM follows WHERE follower_id = '{0}' OR followee_id = '{0}'", alice.id))
            .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM notifications WHERE recipient_id = '{0}' OR actor_id = '{0}'",
            alice.id
        ))
        .await,
        0
    );
    assert_eq!(app.count(&owned_by("user_id", "post_mentions")).await, 0);
    let bobs = app.get_json(&bob, "/api/v1/notifications").await;
    assert_eq!(bobs["data"].as_array().unwrap().len(), 0, "alice's follow and mention of bob are gone");
    let profile = app.get_json(&bob, &format!("/api/v1/users/{}", bob.id)).await;
    assert_eq!((profile["followers_count"].as_u64(), profile["following_count"].as_u64()), (Some(0), Some(0)));
    assert_eq!(app.get_json(&bob, "/api/v1/timeline").await["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn following_unfollowing_and_following_again_notifies_once_a_day() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let path = format!("/api/v1/users/{}/follow", bob.id);
    for _ in 0..3 {
        app.follow(&alice, &bob).await;
        let response = app.delete(&path).bearer_auth(&alice.access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    app.follow(&alice, &bob).await;
    let notifications = app.get_json(&bob, "/api/v1/notifications").await;
    assert_eq!(notifications["data"].as_array().unwrap().len(), 1, "{notifications}");
    assert_eq!(app.outbox("notification.created").await, 1);
    assert_eq!(app.outbox("follow.created").await, 4, "every follow still reaches the notifiers");
}
