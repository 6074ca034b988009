//! Access tokens that must be refused: forged, tampered, expired, malformed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn claims_of(session: &Session) -> Value {
    let payload = session.access.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.get("/api/v1/users/me").bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn the_access_token_carries_the_documented_claims() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(alice.access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    let claims = claims_of(&alice);
    assert_eq!(claims["sub"], alice.id.as_str());
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["iss"], "social");
    assert!(claims["jti"].is_string());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims_of(&alice).to_string());
    for token in [format!("{header}.{payload}."), format!("{header}.{payload}")] {
        assert_problem(me_with(&app, &token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[tokio::test]
async fn a_token_with_a_changed_payload_is_refused() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let mut claims = claims_of(&alice);
    claims["role"] = json!("admin");
    let parts: Vec<&str> = alice.access.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    assert_problem(me_with(&app, &tampered).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_or_algorithm_is_refused() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let claims = claims_of(&alice);
    let other_key = sign(&claims, "some-other-secret-some-other-secret!");
    assert_problem(me_with(&app, &other_key).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let hs512 =
        encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap();
    assert_problem(me_with(&app, &hs512).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn an_expired_token_is_401_token_expired() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let mut claims = claims_of(&alice);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    assert_problem(me_with(&app, &sign(&claims, JWT_SECRET)).await, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[tokio::test]
async fn garbage_and_foreign_schemes_are_401() {
    let app = spawn_app().await;
    assert_problem(me_with(&app, "garbage").await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let basic = app.get("/api/v1/users/me").header("authorization", "Basic YWxpY2U6cHc=").send().await.unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let missing = app.get("/api/v1/users/me").send().await.unwrap();
    assert_problem(missing, StatusCode::UNAUTHORIZED, "missing_token").await;
}
