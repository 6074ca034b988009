//! The `FollowRepository` contract.

use application::paging::PageRequest;
use chrono::{Duration, Utc};
use domain::{Author, DomainEvent, Envelope, Follow};

use crate::fixtures::{Content, new_follow, new_post, on_every_backend};

on_every_backend!(
    following_twice_is_not_new_and_writes_once,
    following_a_user_deleted_meanwhile_writes_nothing,
    a_recent_follow_notification_is_found,
    unfollowing_writes_its_event_once,
    followers_and_following_page_newest_first_as_the_viewer_sees_them,
);

async fn following_twice_is_not_new_and_writes_once(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    assert!(content.follows.follow(new_follow(&alice, &bob)).await.unwrap());
    assert_eq!(content.events().await, ["follow.created", "notification.created"]);
    assert!(!content.follows.follow(new_follow(&alice, &bob)).await.unwrap(), "already following");
    assert_eq!(content.events().await.len(), 2, "nothing written for an existing follow");
    assert_eq!((content.count("follows").await, content.count("notifications").await), (1, 1));
    assert!(content.follows.follow(new_follow(&bob, &alice)).await.unwrap(), "the other way is another follow");
}

async fn following_a_user_deleted_meanwhile_writes_nothing(content: &Content) {
    let alice = content.user("alice").await;
    let gone = Author { id: domain::UserId::generate(), ..content.user("gone").await };
    assert!(!content.follows.follow(new_follow(&alice, &gone)).await.unwrap());
    assert!(content.events().await.is_empty());
    assert_eq!((content.count("follows").await, content.count("notifications").await), (0, 0));
}

async fn a_recent_follow_notification_is_found(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let follow = Follow::new(alice.id, bob.id).unwrap();
    let since = Utc::now() - Duration::minutes(1);
    assert!(!content.follows.follow_notified_since(follow, since).await.unwrap());
    content.follows.follow(new_follow(&alice, &bob)).await.unwrap();
    assert!(content.follows.follow_notified_since(follow, since).await.unwrap());
    assert!(!content.follows.follow_notified_since(follow, Utc::now() + Duration::minutes(1)).await.unwrap());
    let reverse = Follow::new(bob.id, alice.id).unwrap();
    assert!(!content.follows.follow_notified_since(reverse, since).await.unwrap());
}

async fn unfollowing_writes_its_event_once(content: &Content) {
    let alice = content.user("alice").await;
    let bob = content.user("bob").await;
    let follow = Follow::new(alice.id, bob.id).unwrap();
    let event = || Envelope::new(DomainEvent::FollowDeleted(follow), Utc::now());
    assert!(!content.follows.unfollow(follow, event()).await.unwrap(), "not following yet");
    assert!(content.events().await.is_empty());
    content.follows.follow(new_follow(&alice, &bob)).await.unwrap();
    assert!(content.follows.unfollow(follow, event()).await.unwrap());
    assert_eq!(content.events().await.last().map(String::as_str), Some("follow.deleted"));
    assert_eq!(content.count("follows").await, 0);
    assert!(!content.follows.unfollow(follow, event()).await.unwrap());
    assert_eq!(content.events().await.len(), 3);
}

fn names(page: &application::paging::Page<application::ports::FollowEntry>) -> Vec<(String, bool)> {
    page.items.iter().map(|e| (e.profile.user.username.as_str().to_owned(), e.profile.followed_by_me)).collect()
}

async fn followers_and_following_page_newest_first_as_the_viewer_sees_them(content: &Content) {
    let star = content.user("star").await;
    let viewer = content.user("viewer").await;
    let mut fans: Vec<Author> = Vec::new();
    for name in ["fan1", "fan2", "fan3"] {
        let fan = content.user(name).await;
        content.follows.follow(new_follow(&fan, &star)).await.unwrap();
        fans.push(fan);
    }
    content.follows.follow(new_follow(&viewer, &fans[1])).await.unwrap();
    content.follows.follow(new_follow(&fans[0], &fans[2])).await.unwrap();
    content.posts.create(new_post(&fans[0], "hello", &[], Utc::now()), None, None).await.unwrap();

    let first = content.follows.followers(star.id, viewer.id, PageRequest { before: None, since: None, limit: 2 });
    let first = first.await.unwrap();
    assert_eq!(names(&first), [("fan3".to_owned(), false), ("fan2".to_owned(), true)]);
    let cursor = first.next_cursor.expect("an older page");
    assert_eq!(Some(cursor), first.items.last().map(|e| e.follow_id));
    let rest =
        content.follows.followers(star.id, viewer.id, PageRequest { before: Some(cursor), since: None, limit: 2 });
    let rest = rest.await.unwrap();
    assert_eq!((names(&rest), rest.next_cursor), (vec![("fan1".to_owned(), false)], None));
    let newer =
        content.follows.followers(star.id, viewer.id, PageRequest { before: None, since: Some(cursor), limit: 2 });
    assert_eq!(names(&newer.await.unwrap()), [("fan3".to_owned(), false)]);

    let fan1 = &rest.items[0].profile;
    assert_eq!((fan1.followers_count, fan1.following_count, fan1.posts_count), (0, 2, 1));
    let following =
        content.follows.following(fans[0].id, fans[2].id, PageRequest { before: None, since: None, limit: 10 });
    let following = following.await.unwrap();
    // The viewer (fan3) follows star, and sees itself as not followed by itself.
    assert_eq!(names(&following), [("fan3".to_owned(), false), ("star".to_owned(), true)]);
    let star_profile = &following.items[1].profile;
    assert_eq!((star_profile.followers_count, star_profile.following_count), (3, 0));
    let nobody = content.follows.following(star.id, viewer.id, PageRequest { before: None, since: None, limit: 10 });
    assert!(nobody.await.unwrap().items.is_empty());
}
