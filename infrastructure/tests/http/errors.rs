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

/// The statuses the document lists for one operation.
fn statuses(document: &Value, method: &str, path: &str) -> Vec<String> {
    document["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn the_document_lists_400_413_and_503_on_json_body_operations_and_401_on_bearer_ones() {
    let app = spawn_app().await;
    let document: Value = app.get("/api-docs/openapi.json").send().await.unwrap().json().await.unwrap();
    let mut missing = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let listed = statuses(&document, method, path);
            let mut expect = |status: &str, why: &str| {
                if !listed.iter().any(|s| s == status) {
                    missing.push(format!("{} {path}: {status} ({why})", method.to_uppercase()));
                }
            };
            if !operation["requestBody"]["content"]["application/json"].is_null() {
                expect("400", "wrong content type, malformed JSON");
                expect("413", "body over 64 KiB");
            }
            let bearer = operation["security"].as_array().into_iter().flatten().any(|r| !r["bearer"].is_null());
            if bearer {
                expect("401", "bearer token");
            }
            if path.starts_with("/api/") {
                expect("503", "database down");
            }
        }
    }
    assert!(missing.is_empty(), "undocumented answers: {missing:#?}");
    let bad_request = &document["paths"]["/api/v1/posts"]["post"]["responses"]["400"]["$ref"];
    assert_eq!(bad_request, "#/components/responses/BadRequest");
    let shared = &document["components"]["responses"];
    assert!(shared["BadRequest"]["description"].as_str().unwrap().contains("invalid_content_type"));
    assert!(!shared["Unavailable"]["headers"]["Retry-After"].is_null());
    assert!(!shared["Unauthorized"]["headers"]["WWW-Authenticate"].is_null());
}

#[tokio::test]
async fn the_document_lists_throttling_and_a_full_hashing_queue_on_login_and_register_only() {
    let app = spawn_app().await;
    let document: Value = app.get("/api-docs/openapi.json").send().await.unwrap().json().await.unwrap();
    for path in ["/api/v1/auth/register", "/api/v1/auth/login"] {
        let listed = statuses(&document, "post", path);
        for status in ["400", "413", "422", "429", "503"] {
            assert!(listed.iter().any(|s| s == status), "POST {path} lacks {status}: {listed:?}");
        }
    }
    let refresh = statuses(&document, "post", "/api/v1/auth/refresh");
    assert!(!refresh.iter().any(|s| s == "429"), "refresh hashes no password and is not throttled: {refresh:?}");
    assert!(refresh.iter().any(|s| s == "503"), "refresh needs the database: {refresh:?}");
    assert!(statuses(&document, "post", "/api/v1/posts").iter().any(|s| s == "429"), "the daily quota");
}
