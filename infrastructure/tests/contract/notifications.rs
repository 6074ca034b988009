//! The `NotificationRepository` contract.

use application::paging::PageRequest;
use application::ports::CreatePostOutcome;
use chrono::Utc;
use domain::{DomainEvent, Envelope, NotificationKind, Post};
use uuid::Uuid;

use crate::fixtures::{Content, new_follow, new_post, on_every_backend};

on_every_backend!(
    notifications_page_newest_first_with_their_posts,
    the_read_marker_only_moves_forward,
    a_deleted_post_takes_its_notifications,
);

async fn mention(content: &Content, by: &domain::Author, whom: &domain::Author, text: &str) -> Post {
    match content.posts.create(new_post(by, text, &[whom], Utc::now()), None, None).await.unwrap() {
        CreatePostOutcome::Created(post) => post,
        other => panic!("{other:?}"),
    }
}

fn page(before: Option<Uuid>, limit: u32) -> PageRequest {
    PageRequest { before, since: None, limit }
}

async fn notifications_page_newest_first_with_their_posts(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    content.follows.follow(new_follow(&alice, &bob)).await.unwrap();
    let first = mention(content, &alice, &bob, "hey @bob").await;
    let second = mention(content, &alice, &bob, "again @bob").await;
    let listed = content.notifications.list(bob.id, page(None, 2)).await.unwrap();
    let kinds: Vec<_> = listed.items.iter().map(|n| &n.kind).collect();
    assert!(
        matches!(kinds[..], [NotificationKind::Mention(a), NotificationKind::Mention(b)]
        if a.id == second.id && b.id == first.id && a.content == second.content),
        "{kinds:?}"
    );
    assert!(listed.items.iter().all(|n| n.actor.id == alice.id && n.recipient == bob.id && !n.read));
    let cursor = listed.next_cursor.expect("an older page");
    let older = content.notifications.list(bob.id, page(Some(cursor), 2)).await.unwrap();
    assert_eq!(older.items.len(), 1);
    assert_eq!(older.items[0].kind, NotificationKind::Follow);
    assert_eq!(older.next_cursor, None);
    assert!(content.notifications.list(alice.id, page(None, 10)).await.unwrap().items.is_empty());
}

async fn the_read_marker_only_moves_forward(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    for n in 0..3 {
        mention(content, &alice, &bob, &format!("@bob {n}")).await;
    }
    assert_eq!(content.notifications.unread_count(bob.id).await.unwrap(), 3);
    let ids: Vec<Uuid> =
        content.notifications.list(bob.id, page(None, 10)).await.unwrap().items.iter().map(|n| n.id).collect();
    content.notifications.mark_read(bob.id, ids[1]).await.unwrap();
    assert_eq!(content.notifications.unread_count(bob.id).await.unwrap(), 1);
    let read: Vec<bool> =
        content.notifications.list(bob.id, page(None, 10)).await.unwrap().items.iter().map(|n| n.read).collect();
    assert_eq!(read, [false, true, true]);
    // A late request with an older id unreads nothing.
    content.notifications.mark_read(bob.id, ids[2]).await.unwrap();
    assert_eq!(content.notifications.unread_count(bob.id).await.unwrap(), 1);
    content.notifications.mark_read(bob.id, ids[0]).await.unwrap();
    assert_eq!(content.notifications.unread_count(bob.id).await.unwrap(), 0);
    // New notifications are unread again.
    mention(content, &alice, &bob, "@bob later").await;
    assert_eq!(content.notifications.unread_count(bob.id).await.unwrap(), 1);
    assert_eq!(content.notifications.unread_count(alice.id).await.unwrap(), 0);
}

async fn a_deleted_post_takes_its_notifications(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let post = mention(content, &alice, &bob, "soon gone @bob").await;
    mention(content, &alice, &bob, "staying @bob").await;
    let event = Envelope::new(DomainEvent::PostDeleted { post_id: post.id, author_id: alice.id }, Utc::now());
    assert!(content.posts.delete(post.id, event).await.unwrap());
    let listed = content.notifications.list(bob.id, page(None, 10)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(content.notifications.unread_count(bob.id).await.unwrap(), 1);
}
