//! `GET /api/v1/admin/stats`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn stats_count_the_window_for_admins_only() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    app.register("carol").await;
    app.follow(&alice, &bob).await;
    app.publish(&alice, "one").await;
    app.publish(&bob, "two").await;
    let admin = app.admin().await;

    let stats = app.get_json(&admin, "/api/v1/admin/stats?interval=week").await;
    assert_eq!(stats["interval"], "week");
    assert_eq!(stats["new_users"], 4, "alice, bob, carol and the admin");
    assert_eq!(stats["active_users"], 3, "carol never used a token");
    assert_eq!(stats["posts"], 2);
    assert_eq!(stats["follows"], 1);
    let from = chrono::DateTime::parse_from_rfc3339(stats["from"].as_str().unwrap()).unwrap();
    let to = chrono::DateTime::parse_from_rfc3339(stats["to"].as_str().unwrap()).unwrap();
    assert_eq!((to - from).num_days(), 7);
    let default: Value = app.get_json(&admin, "/api/v1/admin/stats").await;
    assert_eq!(default["interval"], "day");

    let by_user = app.get("/api/v1/admin/stats").bearer_auth(&alice.access).send().await.unwrap();
    assert_problem(by_user, StatusCode::FORBIDDEN, "forbidden").await;
    let bad = app.get("/api/v1/admin/stats?interval=year").bearer_auth(&admin.access).send().await.unwrap();
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}
