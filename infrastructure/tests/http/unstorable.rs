//! Text PostgreSQL cannot store never reaches it: a NUL character is a 422 naming
//! its field, and a lone surrogate is malformed JSON (400). Never a 500.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::*;

const NUL_RULE: &str = "must not contain a NUL character (U+0000)";

/// Asserts a 422 whose `errors` names `field`.
async fn assert_refused_field(response: Response, field: &str) -> Vec<String> {
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let messages: Vec<String> =
        serde_json::from_value(body["errors"][field].clone()).unwrap_or_else(|_| panic!("no errors.{field} in {body}"));
    assert!(!messages.is_empty(), "{body}");
    messages
}

#[tokio::test]
async fn post_content_with_a_nul_character_is_422_naming_content() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app
        .post("/api/v1/posts")
        .bearer_auth(&alice.access)
        .json(&json!({"content": "hi\u{0}there"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_refused_field(response, "content").await, [NUL_RULE]);
    assert_eq!(app.count("SELECT count(*) FROM posts").await, 0);
}

#[tokio::test]
async fn a_bio_with_a_nul_character_is_422_naming_bio() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response =
        app.patch("/api/v1/users/me").bearer_auth(&alice.access).json(&json!({"bio": "\u{0}"})).send().await.unwrap();
    assert_eq!(assert_refused_field(response, "bio").await, [NUL_RULE]);
}

#[tokio::test]
async fn a_display_name_with_a_nul_character_is_422_naming_display_name() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app
        .patch("/api/v1/users/me")
        .bearer_auth(&alice.access)
        .json(&json!({"display_name": "Al\u{0}ice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_refused_field(response, "display_name").await, [NUL_RULE]);
}

#[tokio::test]
async fn a_username_with_a_nul_character_is_422_naming_username_at_registration_and_on_change() {
    let app = spawn_app().await;
    let register = app
        .post("/api/v1/auth/register")
        .json(&json!({"username": "ali\u{0}ce", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_refused_field(register, "username").await;
    let alice = app.signed_in("alice").await;
    let change = app
        .patch("/api/v1/users/me")
        .bearer_auth(&alice.access)
        .json(&json!({"username": "bo\u{0}b"}))
        .send()
        .await
        .unwrap();
    assert_refused_field(change, "username").await;
}

#[tokio::test]
async fn an_email_with_a_nul_character_is_422_naming_email_at_registration_and_on_change() {
    let app = spawn_app().await;
    let register = app
        .post("/api/v1/auth/register")
        .json(&json!({"username": "alice", "password": PASSWORD, "email": "alice\u{0}@example.com"}))
        .send()
        .await
        .unwrap();
    assert_refused_field(register, "email").await;
    let bob = app.signed_in("bob").await;
    let change = app
        .patch("/api/v1/users/me")
        .bearer_auth(&bob.access)
        .json(&json!({"email": "bob@exa\u{0}mple.com"}))
        .send()
        .await
        .unwrap();
    assert_refused_field(change, "email").await;
}

#[tokio::test]
async fn searching_posts_for_text_with_a_nul_character_is_422_naming_q() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app.get("/api/v1/posts?q=a%00b").bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(assert_refused_field(response, "q").await, [NUL_RULE]);
}

#[tokio::test]
async fn listing_users_by_a_prefix_with_a_nul_character_is_422_naming_q() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let response = app.get("/api/v1/users?q=%00").bearer_auth(&admin.access).send().await.unwrap();
    assert_eq!(assert_refused_field(response, "q").await, [NUL_RULE]);
}

#[tokio::test]
async fn looking_up_a_username_with_a_nul_character_is_422_naming_username() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app.get("/api/v1/users/lookup?username=alice%00").bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(assert_refused_field(response, "username").await, [NUL_RULE]);
}

#[tokio::test]
async fn a_lone_surrogate_in_a_json_body_is_400_malformed_json() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    // Written by hand: no JSON serializer would produce an unpaired surrogate.
    let requests = [
        app.post("/api/v1/posts").bearer_auth(&alice.access).body(r#"{"content": "hi \ud800"}"#),
        app.patch("/api/v1/users/me").bearer_auth(&alice.access).body(r#"{"bio": "\udc00 low"}"#),
        app.post("/api/v1/auth/register").body(r#"{"username": "bob", "password": "\ud83d correct horse"}"#),
        app.post("/api/v1/auth/logout").bearer_auth(&alice.access).body(r#"{"refresh_token": "\ud800"}"#),
    ];
    for request in requests {
        let response = request.header("content-type", "application/json").send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
}

#[tokio::test]
async fn a_surrogate_pair_in_a_json_body_is_an_ordinary_character() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app
        .post("/api/v1/posts")
        .bearer_auth(&alice.access)
        .header("content-type", "application/json")
        .body(r#"{"content": "smile \ud83d\ude00"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["content"], "smile \u{1f600}");
}

#[tokio::test]
async fn a_query_that_is_not_utf_8_is_never_a_server_error() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // %ED%A0%80 would be a lone surrogate in UTF-8; %FF is no UTF-8 at all.
    for path in ["/api/v1/posts?q=%ED%A0%80", "/api/v1/users?q=%FF", "/api/v1/users/lookup?username=%ED%A0%80"] {
        let response = app.get(path).bearer_auth(&admin.access).send().await.unwrap();
        assert!(!response.status().is_server_error(), "{path}: {}", response.status());
    }
}

#[tokio::test]
async fn a_webhook_url_with_a_nul_character_is_refused_with_422() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app
        .post("/api/v1/webhooks")
        .bearer_auth(&alice.access)
        .json(&json!({"url": "http://127.0.0.1:9/hook\u{0}"}))
        .send()
        .await
        .unwrap();
    assert_refused_field(response, "url").await;
}
