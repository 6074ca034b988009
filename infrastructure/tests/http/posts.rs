//! Posts: publish, read, delete, list, search, quota, idempotency.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn publishing_answers_201_with_the_post_and_writes_one_event() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app
        .post("/api/v1/posts")
        .bearer_auth(&alice.access)
        .json(&json!({"content": "  hello world  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let post: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/posts/{}", post["id"].as_str().unwrap()));
    assert_eq!(post["content"], "hello world");
    assert_eq!(post["author"], json!({"id": alice.id, "username": "alice", "display_name": null, "avatar_url": null}));
    assert_eq!(post["mentions"], json!([]));
    assert!(post["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.outbox("post.created").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 1);
    let payloads = app.texts("SELECT CAST(payload AS TEXT) AS text FROM outbox").await;
    let payload: Value = serde_json::from_str(&payloads[0]).unwrap();
    assert_eq!(payload["post"], post, "the event carries the post as clients see it");
}

#[tokio::test]
async fn content_must_be_1_to_500_characters_and_not_blank() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let send = |body: Value| app.post("/api/v1/posts").bearer_auth(&alice.access).json(&body).send();
    for body in [json!({"content": "   \n "}), json!({"content": "x".repeat(501)}), json!({}), json!({"content": 5})] {
        let problem =
            assert_problem(send(body.clone()).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                .await;
        assert!(problem["errors"].is_object(), "{body}");
    }
    assert_eq!(send(json!({"content": "é".repeat(500)})).await.unwrap().status(), StatusCode::CREATED);
    let anonymous = app.post("/api/v1/posts").json(&json!({"content": "hi"})).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn a_post_is_read_by_id() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let post = app.publish(&alice, "readable").await;
    let found = app.get_json(&alice, &format!("/api/v1/posts/{}", post["id"].as_str().unwrap())).await;
    assert_eq!(found, post);
    let missing =
        app.get(&format!("/api/v1/posts/{}", uuid::Uuid::now_v7())).bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(missing, StatusCode::NOT_FOUND, "post_not_found").await;
    let malformed = app.get("/api/v1/posts/123").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

#[tokio::test]
async fn only_the_author_or_an_admin_deletes_and_each_delete_writes_one_event() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let admin = app.admin().await;
    let first = app.publish(&alice, "one").await;
    let second = app.publish(&alice, "two").await;
    let path = |post: &Value| format!("/api/v1/posts/{}", post["id"].as_str().unwrap());

    let by_bob = app.delete(&path(&first)).bearer_auth(&bob.access).send().await.unwrap();
    assert_problem(by_bob, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.outbox("post.deleted").await, 0);
    assert_eq!(
        app.delete(&path(&first)).bearer_auth(&alice.access).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&path(&second)).bearer_auth(&admin.access).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.outbox("post.deleted").await, 2);

    let gone = app.get(&path(&first)).bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(gone, StatusCode::NOT_FOUND, "post_not_found").await;
    let again = app.delete(&path(&first)).bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(again, StatusCode::NOT_FOUND, "post_not_found").await;
    assert_eq!(app.outbox("post.deleted").await, 2);
}

#[tokio::test]
async fn paging_25_posts_by_7_returns_each_once_newest_first() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let mut published = Vec::new();
    for n in 0..25 {
        published.push(app.publish(&alice, &format!("post {n}")).await["id"].as_str().unwrap().to_owned());
    }
    published.reverse();
    for base in
        [format!("/api/v1/users/{}/posts?limit=7", alice.id), format!("/api/v1/posts?author_id={}&limit=7", alice.id)]
    {
        let mut seen = Vec::new();
        let mut path = base.clone();
        let mut pages = 0;
        loop {
            let page = app.get_json(&alice, &path).await;
            pages += 1;
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("{base}&before={cursor}"),
                None => break,
            }
        }
        assert_eq!(pages, 4, "{base}");
        assert_eq!(seen, published, "{base}");
    }
}

#[tokio::test]
async fn since_returns_only_newer_posts() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let old = app.publish(&alice, "old").await;
    let newer = app.publish(&alice, "newer").await;
    let newest = app.publish(&alice, "newest").await;
    let page =
        app.get_json(&alice, &format!("/api/v1/users/{}/posts?since={}", alice.id, old["id"].as_str().unwrap())).await;
    assert_eq!(ids(&page), [newest["id"].as_str().unwrap(), newer["id"].as_str().unwrap()]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn list_parameters_are_checked() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    for (query, status, code) in [
        ("?limit=0", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("?limit=101", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("?limit=-1", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("?before=yesterday", StatusCode::BAD_REQUEST, "invalid_parameter"),
    ] {
        let response = app.get(&format!("/api/v1/timeline{query}")).bearer_auth(&alice.access).send().await.unwrap();
        assert_problem(response, status, code).await;
    }
    let unknown = app
        .get(&format!("/api/v1/users/{}/posts", uuid::Uuid::now_v7()))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn search_finds_words_and_any_typed_query_is_harmless() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let rust = app.publish(&alice, "Rust is fast").await;
    app.publish(&bob, "coffee is hot").await;
    let hit = app.get_json(&alice, "/api/v1/posts?q=rust").await;
    assert_eq!(ids(&hit), [rust["id"].as_str().unwrap()]);
    let by_author = app.get_json(&alice, &format!("/api/v1/posts?q=is&author_id={}", bob.id)).await;
    assert_eq!(by_author["data"].as_array().unwrap().len(), 1);
    for nasty in ["' OR 1=1 --", "a & | ! (", "\\", ":*", "\"unclosed", "rust:* & !", "%00"] {
        let url = reqwest::Url::parse_with_params(&app.url("/api/v1/posts"), &[("q", nasty)]).unwrap();
        let response = app.client.get(url).bearer_auth(&alice.access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{nasty:?}");
        let page: Value = response.json().await.unwrap();
        assert!(page["data"].as_array().unwrap().len() <= 1, "{nasty:?} matched too much: {page}");
    }
    assert_eq!(app.count("SELECT count(*) FROM posts").await, 2, "nothing was harmed");
}

#[tokio::test]
async fn deleting_a_post_does_not_give_its_quota_slot_back() {
    let app = spawn_with(&[("POST_DAILY_LIMIT", "2")]).await;
    let alice = app.signed_in("alice").await;
    for n in 0..2 {
        let post = app.publish(&alice, &format!("post {n}")).await;
        let url = format!("/api/v1/posts/{}", post["id"].as_str().unwrap());
        let deleted = app.delete(&url).bearer_auth(&alice.access).send().await.unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    let response =
        app.post("/api/v1/posts").bearer_auth(&alice.access).json(&json!({"content": "third"})).send().await.unwrap();
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded").await;
}

#[tokio::test]
async fn concurrent_posts_never_pass_the_daily_quota() {
    let app = spawn_with(&[("POST_DAILY_LIMIT", "5")]).await;
    let alice = app.signed_in("alice").await;
    let attempts = (0..12).map(|n| {
        app.post("/api/v1/posts").bearer_auth(&alice.access).json(&json!({"content": format!("race {n}")})).send()
    });
    let statuses: Vec<StatusCode> =
        futures::future::join_all(attempts).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 7, "{statuses:?}");
    assert_eq!(app.count("SELECT count(*) FROM posts").await, 5);
}

#[tokio::test]
async fn the_daily_quota_answers_429_with_retry_after() {
    let app = spawn_with(&[("POST_DAILY_LIMIT", "3")]).await;
    let alice = app.signed_in("alice").await;
    for n in 0..3 {
        app.publish(&alice, &format!("post {n}")).await;
    }
    let response = app
        .post("/api/v1/posts")
        .bearer_auth(&alice.access)
        .json(&json!({"content": "one too many"}))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded").await;
    assert_eq!(app.count("SELECT count(*) FROM posts").await, 3);
    assert_eq!(app.outbox("post.created").await, 3);
}

#[tokio::test]
async fn the_same_idempotency_key_twice_makes_one_post_and_one_event() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let send = |who: &Session, key: &str| {
        app.post("/api/v1/posts")
            .bearer_auth(&who.access)
            .header("idempotency-key", key)
            .json(&json!({"content": "only once"}))
            .send()
    };
    let first = send(&alice, "abc-123").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let second = send(&alice, "abc-123").await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(second.json::<Value>().await.unwrap(), first);
    assert_eq!(app.count("SELECT count(*) FROM posts").await, 1);
    assert_eq!(app.outbox("post.created").await, 1);

    let bob = app.signed_in("bob").await;
    let other_user = send(&bob, "abc-123").await.unwrap().json::<Value>().await.unwrap();
    assert_ne!(other_user["id"], first["id"], "keys belong to their user");
    let bad = send(&alice, &"k".repeat(300)).await.unwrap();
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_post() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let send = || {
        app.post("/api/v1/posts")
            .bearer_auth(&alice.access)
            .header("idempotency-key", "race")
            .json(&json!({"content": "race"}))
            .send()
    };
    let answers = futures::future::join_all((0..8).map(|_| send())).await;
    let mut ids = std::collections::HashSet::new();
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        ids.insert(answer.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(app.outbox("post.created").await, 1);
}

#[tokio::test]
async fn the_timeline_holds_own_and_followed_posts_newest_first() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let carol = app.signed_in("carol").await;
    let mine = app.publish(&alice, "mine").await;
    let bobs = app.publish(&bob, "bob's").await;
    app.publish(&carol, "carol's").await;
    app.follow(&alice, &bob).await;
    let timeline = app.get_json(&alice, "/api/v1/timeline").await;
    assert_eq!(ids(&timeline), [bobs["id"].as_str().unwrap(), mine["id"].as_str().unwrap()]);

    app.delete(&format!("/api/v1/users/{}/follow", bob.id)).bearer_auth(&alice.access).send().await.unwrap();
    let timeline = app.get_json(&alice, "/api/v1/timeline").await;
    assert_eq!(ids(&timeline), [mine["id"].as_str().unwrap()]);
}
