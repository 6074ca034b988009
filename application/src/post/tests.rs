use chrono::{TimeZone, Utc};
use domain::{NotificationKind, PostContent, PostId, UserId};
use futures::executor::block_on;

use crate::ApplicationError;
use crate::paging::PageRequest;
use crate::testing::Harness;

fn content(text: &str) -> PostContent {
    PostContent::parse(text).unwrap()
}

#[test]
fn a_post_mentioning_users_notifies_each_existing_one_but_not_the_author() {
    let h = Harness::default();
    h.register("bob", None, None).unwrap();
    let (alice, _) = h.signed_in("alice");
    let published = block_on(h.posts(0).create(&alice, content("hi @BOB, @ghost and @alice"), None)).unwrap();
    let mentioned: Vec<&str> = published.post.mentions.iter().map(|m| m.username.as_str()).collect();
    assert_eq!(mentioned, ["bob", "alice"]);
    let notifications = h.content.notifications.lock().unwrap().clone();
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].actor.id, alice.user_id);
    assert!(matches!(&notifications[0].kind, NotificationKind::Mention(post) if post.id == published.post.id));
    assert_eq!(h.content.event_types(), ["post.created", "notification.created"]);
}

#[test]
fn a_plain_post_writes_exactly_one_event() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    block_on(h.posts(0).create(&alice, content("hello"), None)).unwrap();
    assert_eq!(h.content.event_types(), ["post.created"]);
}

#[test]
fn the_daily_quota_answers_with_the_seconds_until_utc_midnight() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let posts = h.posts(2);
    block_on(posts.create(&alice, content("one"), None)).unwrap();
    block_on(posts.create(&alice, content("two"), None)).unwrap();
    let err = block_on(posts.create(&alice, content("three"), None)).unwrap_err();
    let midnight = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let expected = (midnight - h.clock.0).num_seconds().unsigned_abs();
    assert!(matches!(err, ApplicationError::QuotaExceeded { retry_after_seconds } if retry_after_seconds == expected));
    assert_eq!(h.content.posts.lock().unwrap().len(), 2);
}

#[test]
fn a_zero_limit_means_no_quota() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let posts = h.posts(0);
    for n in 0..150 {
        block_on(posts.create(&alice, content(&format!("post {n}")), None)).unwrap();
    }
}

#[test]
fn the_same_idempotency_key_returns_the_first_post_and_writes_nothing_more() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let posts = h.posts(0);
    let first = block_on(posts.create(&alice, content("once"), Some("key-1"))).unwrap();
    let again = block_on(posts.create(&alice, content("once more"), Some("key-1"))).unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(again.post, first.post);
    assert_eq!(h.content.posts.lock().unwrap().len(), 1);
    assert_eq!(h.content.event_types(), ["post.created"]);
    let (bob, _) = h.signed_in("bob");
    assert!(!block_on(posts.create(&bob, content("mine"), Some("key-1"))).unwrap().replayed, "keys are per user");
}

#[test]
fn a_replay_is_not_refused_by_the_quota() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let posts = h.posts(1);
    block_on(posts.create(&alice, content("once"), Some("k"))).unwrap();
    assert!(block_on(posts.create(&alice, content("once"), Some("k"))).unwrap().replayed);
}

#[test]
fn a_malformed_idempotency_key_is_a_validation_error() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    for key in ["", "has space", &"k".repeat(256)] {
        let err = block_on(h.posts(0).create(&alice, content("x"), Some(key))).unwrap_err();
        assert!(matches!(err, ApplicationError::Validation(_)), "{key:?}");
    }
}

#[test]
fn only_the_author_or_an_admin_deletes_a_post() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (bob, _) = h.signed_in("bob");
    let admin = h.make_admin("root_admin");
    let posts = h.posts(0);
    let first = block_on(posts.create(&alice, content("one"), None)).unwrap().post;
    let second = block_on(posts.create(&alice, content("two"), None)).unwrap().post;
    assert!(matches!(block_on(posts.delete(&bob, first.id)), Err(ApplicationError::Forbidden(_))));
    block_on(posts.delete(&alice, first.id)).unwrap();
    block_on(posts.delete(&admin, second.id)).unwrap();
    assert!(matches!(block_on(posts.delete(&alice, first.id)), Err(ApplicationError::NotFound("post"))));
    assert_eq!(h.content.event_types(), ["post.created", "post.created", "post.deleted", "post.deleted"]);
}

#[test]
fn posts_of_an_unknown_author_are_not_found() {
    let h = Harness::default();
    let page = PageRequest::new(None, None, None).unwrap();
    assert!(matches!(
        block_on(h.posts(0).by_author(UserId::generate(), page)),
        Err(ApplicationError::NotFound("user"))
    ));
    assert!(matches!(block_on(h.posts(0).get(PostId::generate())), Err(ApplicationError::NotFound("post"))));
}

#[test]
fn the_timeline_holds_own_and_followed_posts_only() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (bob, _) = h.signed_in("bob");
    let (carol, _) = h.signed_in("carol");
    let posts = h.posts(0);
    for (who, text) in [(&alice, "mine"), (&bob, "bob's"), (&carol, "carol's")] {
        block_on(posts.create(who, content(text), None)).unwrap();
    }
    block_on(h.follows().follow(&alice, bob.user_id)).unwrap();
    let page = block_on(posts.timeline(&alice, PageRequest::new(None, None, None).unwrap())).unwrap();
    let texts: Vec<&str> = page.items.iter().map(|p| p.content.as_str()).collect();
    assert_eq!(texts, ["bob's", "mine"]);
}
