//! A database that stops answering: requests that need it answer 503
//! `unavailable` with `Retry-After` (never 500), readiness fails, and
//! everything works again once it is back, without restarting the api.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_owning, spawn_with};
use crate::switch::Switch;

#[tokio::test]
async fn a_database_outage_answers_503_unavailable_and_recovers_without_a_restart() {
    let switch = Switch::start(5432).await;
    let database = format!("test_{}", uuid::Uuid::now_v7().simple());
    let url = format!("postgres://postgres@127.0.0.1:{}/{database}", switch.port);
    let app = spawn_owning(&database, &[("DATABASE_URL", url.as_str())]).await;
    let alice = app.signed_in("alice").await;
    let post = |content: &'static str| {
        app.post("/api/v1/posts").bearer_auth(&alice.access).json(&json!({"content": content})).send()
    };
    assert_eq!(post("before").await.unwrap().status(), StatusCode::CREATED);

    switch.cut().await;
    let asked = std::time::Instant::now();
    let response = post("during").await.unwrap();
    eprintln!("503 answered in {} ms while the database was cut", asked.elapsed().as_millis());
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() > 0), "Retry-After");
    let response = app.get(&format!("/api/v1/users/{}", alice.id)).bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let ready = app.get("/health/ready").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));

    switch.restore();
    let restored = std::time::Instant::now();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = post("after").await.unwrap().status();
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "while recovering");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::CREATED, "posting works again once the database is back");
    eprintln!("posting worked again {} ms after the database came back", restored.elapsed().as_millis());
    let page = app.get_json(&alice, &format!("/api/v1/users/{}/posts", alice.id)).await;
    let contents: Vec<&str> = page["data"].as_array().unwrap().iter().map(|p| p["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["after", "before"]);
}

#[tokio::test]
async fn a_dropped_database_answers_503_not_500() {
    let app = spawn_with(&[]).await;
    let alice = app.signed_in("alice").await;
    let (client, connection) =
        tokio_postgres::connect("postgres://postgres@127.0.0.1:5432/postgres", tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", app.database)).await.unwrap();
    let response = app
        .post("/api/v1/posts")
        .bearer_auth(&alice.access)
        .json(&json!({"content": "into the void"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}
