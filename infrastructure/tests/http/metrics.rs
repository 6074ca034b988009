//! `/metrics` on both services, in Prometheus text format.

use futures::StreamExt;
use reqwest::StatusCode;
use std::time::Duration;

use crate::helpers::*;

async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/plain"));
    response.text().await.unwrap()
}

/// Scrapes until every needle shows (metrics are updated just after the work).
async fn scrape_until(base: &str, needles: &[&str]) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(base).await;
        if needles.iter().all(|n| text.contains(n)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    text
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_events_through_the_pipeline() {
    let app = spawn_app().await;
    let notifier = spawn_notifier(&app).await;
    let author = app.signed_in("author").await;
    let fan = app.signed_in("fan").await;
    app.follow(&fan, &author).await;
    let mut socket = connect(&notifier, &fan, "").await;
    app.publish(&author, "counted").await;
    tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap();

    // The relay counts a batch once the broker has confirmed it and the rows
    // are marked, which can be after the socket has the post.
    let api = scrape_until(&app.address, &["events_published_total{type=\"post.created\"}", "outbox_backlog"]).await;
    for needle in [
        "http_requests_total{method=\"POST\",route=\"/api/v1/posts\",status=\"201\"}",
        "http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/posts\",status=\"201\",le=",
        "events_published_total{type=\"post.created\"}",
        "outbox_backlog",
        "relay_lag_seconds",
    ] {
        assert!(api.contains(needle), "missing {needle} in:\n{api}");
    }
    assert!(!api.contains(&author.id), "ids never become label values");

    // The recorder is the process's: other tests of this binary count too.
    let ws = scrape_until(
        &format!("http://127.0.0.1:{}", notifier.port),
        &["events_delivered_total", "event_lag_seconds_bucket{type=\"post.created\""],
    )
    .await;
    for needle in [
        "websocket_connections",
        "events_delivered_total{type=\"post.created\"}",
        "event_lag_seconds_bucket{type=\"post.created\",le=",
    ] {
        assert!(ws.contains(needle), "missing {needle} in:\n{ws}");
    }
}
