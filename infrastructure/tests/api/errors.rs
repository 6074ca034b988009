//! Cross-cutting behaviour: body limits, content types, unknown routes, request ids, health.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;
}

#[tokio::test]
async fn a_json_endpoint_refuses_another_content_type_with_400() {
    let app = spawn_app().await;
    let response = app.post("/api/v1/auth/login").header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_content_type").await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let body = format!("{{\"username\": \"{}\", \"password\": \"x\"}}", "a".repeat(70 * 1024));
    let response =
        app.post("/api/v1/auth/register").header("content-type", "application/json").body(body).send().await.unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let alice = app.signed_in("alice").await;
    let big = vec![b' '; 70 * 1024];
    let logout = app.post("/api/v1/auth/logout").bearer_auth(&alice.access).body(big).send().await.unwrap();
    assert_problem(logout, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/nope").send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn the_request_id_is_echoed_or_generated() {
    let app = spawn_app().await;
    let echoed = app.get("/health/live").header("x-request-id", "client-chosen-42").send().await.unwrap();
    assert_eq!(echoed.headers().get("x-request-id").unwrap(), "client-chosen-42");
    let generated = app.get("/health/live").send().await.unwrap();
    let id = generated.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let on_error = app.get("/api/v1/users/me").header("x-request-id", "err-1").send().await.unwrap();
    assert_eq!(on_error.headers().get("x-request-id").unwrap(), "err-1");
}

#[tokio::test]
async fn health_reports_live_and_ready() {
    let app = spawn_app().await;
    let live = app.get("/health/live").send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    // The broker connection comes up in the background after start-up.
    let mut ready = app.get("/health/ready").send().await.unwrap();
    for _ in 0..100 {
        if ready.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ready = app.get("/health/ready").send().await.unwrap();
    }
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["checks"], serde_json::json!({"database": "up", "broker": "up"}));
}
