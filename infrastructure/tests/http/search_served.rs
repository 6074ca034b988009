//! Global search past the search window, on 6,000 posts inserted straight
//! into PostgreSQL (served family; the SQLite plan is checked by the contract
//! tests of the post repository).

use crate::helpers::*;

#[tokio::test]
async fn a_search_finds_old_matches_beyond_thousands_of_newer_posts_in_order_across_pages() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    // 6,000 older posts, straight into the table (UUIDv7-shaped ids in time
    // order); the three oldest mention the word.
    app.db()
        .await
        .batch_execute(&format!(
            "INSERT INTO posts (id, author_id, content, created_at)
             SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7000' || '8'
                     || lpad(to_hex(g), 15, '0'))::uuid,
                    '{}', CASE WHEN g <= 3 THEN 'an ancient post ' || g ELSE 'filler ' || g END, t
             FROM generate_series(1, 6000) g,
                  LATERAL (SELECT now() - interval '1 day' + g * interval '1 second' AS t) at",
            alice.id
        ))
        .await
        .unwrap();
    let recent = [app.publish(&alice, "ancient news").await, app.publish(&alice, "more ancient news").await];

    let mut found = Vec::new();
    let mut path = "/api/v1/posts?q=ancient&limit=2".to_owned();
    loop {
        let page = app.get_json(&alice, &path).await;
        found.extend(page["data"].as_array().unwrap().iter().map(|p| p["content"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/posts?q=ancient&limit=2&before={cursor}"),
            None => break,
        }
    }
    let newest_first = [
        recent[1]["content"].as_str().unwrap(),
        recent[0]["content"].as_str().unwrap(),
        "an ancient post 3",
        "an ancient post 2",
        "an ancient post 1",
    ];
    assert_eq!(found, newest_first);
}
