//! The notifier's reads (`NotifierStore`): catching up after a reconnection.

use application::ports::CreatePostOutcome;
use chrono::Utc;
use domain::{Author, NotificationKind, Post};
use uuid::Uuid;

use crate::fixtures::{Content, new_follow, new_post, on_every_backend};

on_every_backend!(a_reconnection_catches_up_since_an_id);

async fn post(content: &Content, by: &Author, text: &str, mentioned: &[&Author]) -> Post {
    match content.posts.create(new_post(by, text, mentioned, Utc::now()), None, None).await.unwrap() {
        CreatePostOutcome::Created(post) => post,
        other => panic!("{other:?}"),
    }
}

async fn a_reconnection_catches_up_since_an_id(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let carol = content.user("carol").await;
    content.follows.follow(new_follow(&alice, &bob)).await.unwrap();
    assert_eq!(content.store.followees(alice.id).await.unwrap(), [bob.id]);
    assert!(content.store.followees(bob.id).await.unwrap().is_empty());

    let first = post(content, &bob, "one", &[]).await;
    post(content, &carol, "not followed", &[]).await;
    let second = post(content, &bob, "two @alice", &[&alice]).await;
    let third = post(content, &bob, "three", &[]).await;
    post(content, &alice, "alice's own", &[]).await;
    let ids = |posts: Vec<Post>| posts.into_iter().map(|p| p.id).collect::<Vec<_>>();
    let missed = content.store.posts_since(alice.id, *first.id.as_uuid(), 10).await.unwrap();
    assert_eq!(missed[0].mentions.len(), 1);
    assert_eq!(ids(missed), [second.id, third.id]);
    assert_eq!(ids(content.store.posts_since(alice.id, *first.id.as_uuid(), 1).await.unwrap()), [second.id]);
    assert_eq!(
        ids(content.store.posts_since(alice.id, Uuid::nil(), 10).await.unwrap()),
        [first.id, second.id, third.id]
    );

    let notified = content.store.notifications_since(bob.id, Uuid::nil(), 10).await.unwrap();
    assert_eq!(notified.len(), 1);
    assert_eq!(notified[0].kind, NotificationKind::Follow);
    let mentions = content.store.notifications_since(alice.id, Uuid::nil(), 10).await.unwrap();
    assert!(
        matches!(&mentions[..], [n] if matches!(&n.kind, NotificationKind::Mention(p) if p.id == second.id) && !n.read)
    );
    content.notifications.mark_read(alice.id, mentions[0].id).await.unwrap();
    let again = content.store.notifications_since(alice.id, Uuid::nil(), 10).await.unwrap();
    assert!(again[0].read, "the read flag follows the marker");
    assert!(content.store.notifications_since(alice.id, mentions[0].id, 10).await.unwrap().is_empty());
}
