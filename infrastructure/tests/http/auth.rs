//! Registration, login, refresh, logout and tickets.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn register_answers_201_with_the_user_and_never_a_secret() {
    let app = spawn_app().await;
    let response = app
        .post("/api/v1/auth/register")
        .json(&json!({"username": "Alice_1", "password": PASSWORD, "email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["username"], "Alice_1");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["role"], "user");
    assert_eq!(user["display_name"], Value::Null);
    assert_eq!(user["avatar_url"], Value::Null);
    let id = uuid::Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(!user.to_string().contains(PASSWORD) && !user.to_string().contains("argon2"));
}

#[tokio::test]
async fn a_username_taken_in_another_letter_case_is_409() {
    let app = spawn_app().await;
    app.register("Alice").await;
    assert_problem(app.register("aLICE").await, StatusCode::CONFLICT, "username_taken").await;
}

#[tokio::test]
async fn an_email_taken_in_another_letter_case_is_409() {
    let app = spawn_app().await;
    let body = |name: &str, email: &str| json!({"username": name, "password": PASSWORD, "email": email});
    let first = app.post("/api/v1/auth/register").json(&body("alice", "Same@Example.com")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = app.post("/api/v1/auth/register").json(&body("bob", "same@EXAMPLE.com")).send().await.unwrap();
    assert_problem(second, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn every_bad_field_is_reported_at_once_with_422() {
    let app = spawn_app().await;
    let response = app
        .post("/api/v1/auth/register")
        .json(&json!({"username": "a b", "password": "short", "email": "not-an-email"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    for field in ["username", "password", "email"] {
        assert!(body["errors"][field].as_array().is_some_and(|m| !m.is_empty()), "{field}: {body}");
    }
}

#[tokio::test]
async fn usernames_outside_the_rules_are_422() {
    let app = spawn_app().await;
    for name in ["ab", &"a".repeat(31), "émile", "dash-ed"] {
        let body =
            assert_problem(app.register(name).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(body["errors"]["username"].is_array(), "{name}");
    }
    let long_password = "p".repeat(129);
    let response = app
        .post("/api/v1/auth/register")
        .json(&json!({"username": "okname", "password": long_password}))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_422() {
    let app = spawn_app().await;
    for body in [json!({"username": 123, "password": PASSWORD}), json!({"password": PASSWORD}), json!(["alice"])] {
        let response = app.post("/api/v1/auth/register").json(&body).send().await.unwrap();
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
}

#[tokio::test]
async fn a_role_in_the_register_body_is_403_unless_an_admin_asks() {
    let app = spawn_app().await;
    let body = json!({"username": "mallory", "password": PASSWORD, "role": "admin"});
    let anonymous = app.post("/api/v1/auth/register").json(&body).send().await.unwrap();
    assert_problem(anonymous, StatusCode::FORBIDDEN, "forbidden").await;
    let plain = app.signed_in("plain").await;
    let by_user = app.post("/api/v1/auth/register").bearer_auth(&plain.access).json(&body).send().await.unwrap();
    assert_problem(by_user, StatusCode::FORBIDDEN, "forbidden").await;

    let admin = app.admin().await;
    let by_admin = app.post("/api/v1/auth/register").bearer_auth(&admin.access).json(&body).send().await.unwrap();
    assert_eq!(by_admin.status(), StatusCode::CREATED);
    assert_eq!(by_admin.json::<Value>().await.unwrap()["role"], "admin");
}

#[tokio::test]
async fn login_answers_bearer_tokens_with_their_lifetimes() {
    let app = spawn_app().await;
    app.register("alice").await;
    let response = app.login_as("ALICE", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["refresh_expires_in"], 2_592_000);
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
    assert!(tokens["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_answer_alike() {
    let app = spawn_app().await;
    app.register("alice").await;
    let wrong_password = assert_problem(
        app.login_as("alice", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown_user =
        assert_problem(app.login_as("nobody", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong_password, unknown_user);
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_the_old_refresh_token_stops_working() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response =
        app.post("/api/v1/auth/refresh").json(&json!({"refresh_token": alice.refresh})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.unwrap();
    assert_ne!(rotated["refresh_token"], alice.refresh.as_str());
    let me = app.get("/api/v1/users/me").bearer_auth(rotated["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let again = app.post("/api/v1/auth/refresh").json(&json!({"refresh_token": alice.refresh})).send().await.unwrap();
    assert_problem(again, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_its_successor_too() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let rotated: Value = app
        .post("/api/v1/auth/refresh")
        .json(&json!({"refresh_token": alice.refresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.post("/api/v1/auth/refresh").json(&json!({"refresh_token": alice.refresh})).send().await.unwrap();
    let successor = app
        .post("/api/v1/auth/refresh")
        .json(&json!({"refresh_token": rotated["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_problem(successor, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    let response = app.post("/api/v1/auth/refresh").json(&json!({"refresh_token": "deadbeef"})).send().await.unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_stops_both_tokens_at_once() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app
        .post("/api/v1/auth/logout")
        .bearer_auth(&alice.access)
        .json(&json!({"refresh_token": alice.refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let me = app.get("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(me, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let refresh = app.post("/api/v1/auth/refresh").json(&json!({"refresh_token": alice.refresh})).send().await.unwrap();
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_without_a_body_revokes_the_access_token_only() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app.post("/api/v1/auth/logout").bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me = app.get("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(me, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let refresh = app.post("/api/v1/auth/refresh").json(&json!({"refresh_token": alice.refresh})).send().await.unwrap();
    assert_eq!(refresh.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_needs_a_token() {
    let app = spawn_app().await;
    let response = app.post("/api/v1/auth/logout").send().await.unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn a_revocation_holds_on_an_instance_started_after_it() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    app.post("/api/v1/auth/logout").bearer_auth(&alice.access).send().await.unwrap();
    let second = spawn_on(&app.database, &[]).await;
    let me = second.get("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(me, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

#[tokio::test]
async fn the_bootstrap_admin_is_created_once_and_never_overwritten() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let me: Value = app.get("/api/v1/users/me").bearer_auth(&admin.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "admin");
    let restarted = spawn_on(&app.database, &[("ADMIN_PASSWORD", "a different password")]).await;
    assert_eq!(restarted.login_as(ADMIN, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(restarted.login_as(ADMIN, "a different password").await.status(), StatusCode::UNAUTHORIZED);
}
