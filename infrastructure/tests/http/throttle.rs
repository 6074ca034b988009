//! Hostile load on the auth endpoints: login and registration limits per
//! client address, and the bounded password-hashing pool.

use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

use crate::helpers::*;

/// A sum over this app's series of a counter of the password-hashing pool (0 before any).
async fn pool_counter(app: &TestApp, name: &str) -> u64 {
    let text = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    let label = format!("pool=\"{}\"", app.hash_pool);
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn hashes(app: &TestApp) -> u64 {
    pool_counter(app, "password_hashes_total").await
}

fn retry_after(response: &Response) -> u64 {
    response.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap()
}

async fn login_from(app: &TestApp, username: &str, password: &str, forwarded_for: &str) -> Response {
    app.post("/api/v1/auth/login")
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sixth_wrong_login_is_refused_with_retry_after_and_costs_no_hash() {
    let app = spawn_with(&[("LOGIN_MAX_FAILURES", "5")]).await;
    assert_eq!(app.register("alice").await.status(), StatusCode::CREATED);
    for _ in 0..5 {
        let response = app.login_as("alice", "wrong password").await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let before = hashes(&app).await;
    assert!(before > 0, "the failures were hashed and counted");

    // Even the right password, in another letter case: it is not checked.
    let response = app.login_as("ALICE", PASSWORD).await;
    let wait = retry_after(&response);
    assert!((890..=900).contains(&wait), "the window frees in about 15 minutes, not {wait} s");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(hashes(&app).await, before, "a throttled login computes no hash");
}

#[tokio::test]
async fn a_successful_login_resets_the_count_of_its_username() {
    let app = spawn_with(&[("LOGIN_MAX_FAILURES", "5")]).await;
    app.register("alice").await;
    for _ in 0..4 {
        assert_eq!(app.login_as("alice", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login_as("alice", PASSWORD).await.status(), StatusCode::OK);
    for _ in 0..4 {
        assert_eq!(app.login_as("alice", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login_as("alice", PASSWORD).await.status(), StatusCode::OK, "four fresh failures are allowed");
}

#[tokio::test]
async fn failures_across_usernames_from_one_address_hit_the_address_limit() {
    // 2 per username, so 20 per address.
    let app = spawn_with(&[("LOGIN_MAX_FAILURES", "2")]).await;
    app.register("alice").await;
    let names: Vec<String> = (0..20).map(|n| format!("guess{n}")).collect();
    let guesses = names.iter().map(|name| app.login_as(name, "wrong password"));
    for response in join_all(guesses).await {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.login_as("alice", PASSWORD).await;
    assert!(retry_after(&response) >= 1);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(
        app.count("SELECT count(*) FROM auth_attempts WHERE kind = 'login'").await,
        20,
        "concurrent failures all counted"
    );
}

#[tokio::test]
async fn registrations_per_address_are_limited_per_hour() {
    let app = spawn_with(&[("REGISTER_PER_HOUR", "3")]).await;
    for name in ["first", "second", "third"] {
        assert_eq!(app.register(name).await.status(), StatusCode::CREATED);
    }
    let before = hashes(&app).await;
    let response = app.register("fourth").await;
    let wait = retry_after(&response);
    assert!((3590..=3600).contains(&wait), "{wait}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(hashes(&app).await, before, "a throttled registration computes no hash");
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // Behind a trusted proxy (the test client is 127.0.0.1), each forwarded client has its own count.
    let proxied = spawn_with(&[("LOGIN_MAX_FAILURES", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    proxied.register("alice").await;
    for _ in 0..2 {
        let response = login_from(&proxied, "alice", "wrong password", "198.51.100.1").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_from(&proxied, "alice", PASSWORD, "198.51.100.1").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // A client cannot hide behind a hop it writes itself: the proxy's hop, the rightmost, counts.
    let response = login_from(&proxied, "alice", PASSWORD, "198.51.100.2, 198.51.100.1").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let response = login_from(&proxied, "alice", PASSWORD, "198.51.100.1, 198.51.100.2").await;
    assert_eq!(response.status(), StatusCode::OK, "another client behind the proxy is not throttled");

    // Without trusted proxies the header is ignored: every request is the peer's.
    let direct = spawn_with(&[("LOGIN_MAX_FAILURES", "2")]).await;
    direct.register("alice").await;
    for _ in 0..2 {
        let response = login_from(&direct, "alice", "wrong password", "198.51.100.1").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_from(&direct, "alice", PASSWORD, "198.51.100.2").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_burst_of_logins_beyond_the_hash_queue_is_refused_at_once_while_other_endpoints_answer() {
    let app = spawn_with(&[("HASH_WORKERS", "1"), ("HASH_QUEUE", "1")]).await;
    let reader = app.signed_in("reader").await;
    let refusals_before = pool_counter(&app, "password_hash_refusals_total").await;

    let burst = (0..24).map(|n| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app.login_as(&format!("flooder{n}"), "wrong password").await;
            (started.elapsed(), response)
        }
    });
    let reads = async {
        let mut statuses = Vec::new();
        for _ in 0..10 {
            let response = app.get("/api/v1/users/me").bearer_auth(&reader.access).send().await.unwrap();
            statuses.push(response.status());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        statuses
    };
    let (answers, reads) = tokio::join!(join_all(burst), reads);

    assert!(reads.iter().all(|s| *s == StatusCode::OK), "GET /users/me kept answering: {reads:?}");
    let mut busy = 0;
    for (took, response) in answers {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(retry_after(&response) >= 1);
                // A refusal never waits for a worker; what it costs is the attempt count in
                // PostgreSQL, which a loaded machine may slow down, hence the loose bound.
                assert!(took < Duration::from_secs(5), "refused after {took:?}");
                assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "one worker and one waiting slot cannot take 24 logins at once");
    assert!(pool_counter(&app, "password_hash_refusals_total").await >= refusals_before + busy);
}
