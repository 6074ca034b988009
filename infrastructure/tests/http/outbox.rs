//! The outbox is written by the same transaction as the change: a failure
//! half-way leaves neither.

use application::ports::{NewPost, PostRepository};
use chrono::Utc;
use domain::{Author, DomainEvent, Envelope, Post, PostContent, PostId, UserId, Username};
use infrastructure::persistence::outbox::Outbox;
use infrastructure::persistence::{self, PgPostRepository};

use crate::helpers::*;

#[tokio::test]
async fn a_failure_mid_transaction_rolls_back_the_post_and_its_events() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    app.publish(&alice, "already there").await;
    let existing_event: String = app.db().await.query_one("SELECT id::text FROM outbox", &[]).await.unwrap().get(0);
    let existing_event: uuid::Uuid = existing_event.parse().unwrap();

    let url = format!(
        "{}/{}",
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
        app.database
    );
    let pool = persistence::connect(&url, 2).await.unwrap();
    let repository = PgPostRepository::new(pool, Outbox::default());
    let post = Post {
        id: PostId::generate(),
        author: Author {
            id: UserId::from_uuid(alice.id.parse().unwrap()),
            username: Username::new("alice").unwrap(),
            display_name: None,
            avatar: None,
        },
        content: PostContent::parse("doomed").unwrap(),
        mentions: Vec::new(),
        created_at: Utc::now(),
    };
    let fresh = Envelope::new(DomainEvent::PostCreated(post.clone()), Utc::now());
    // The second event reuses an id already in the outbox: its insert fails after the post's.
    let clash = Envelope { id: existing_event, ..fresh.clone() };
    let result = repository
        .create(NewPost { post: post.clone(), notifications: Vec::new(), events: vec![fresh, clash] }, None, None)
        .await;

    assert!(result.is_err());
    assert_eq!(app.count(&format!("SELECT count(*) FROM posts WHERE id = '{}'", post.id)).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 1);
}
