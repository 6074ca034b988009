use domain::{NotificationKind, UserId};
use futures::executor::block_on;

use crate::ApplicationError;
use crate::testing::Harness;

#[test]
fn following_yourself_is_a_validation_error() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    assert!(matches!(block_on(h.follows().follow(&alice, alice.user_id)), Err(ApplicationError::Validation(_))));
    assert!(h.content.event_types().is_empty());
}

#[test]
fn following_an_unknown_user_is_not_found() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let err = block_on(h.follows().follow(&alice, UserId::generate())).unwrap_err();
    assert!(matches!(err, ApplicationError::NotFound("user")));
}

#[test]
fn a_follow_notifies_once_and_following_again_changes_nothing() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (bob, _) = h.signed_in("bob");
    block_on(h.follows().follow(&alice, bob.user_id)).unwrap();
    block_on(h.follows().follow(&alice, bob.user_id)).unwrap();
    let notifications = h.content.notifications.lock().unwrap().clone();
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].recipient, bob.user_id);
    assert_eq!(notifications[0].kind, NotificationKind::Follow);
    assert_eq!(h.content.event_types(), ["follow.created", "notification.created"]);
}

#[test]
fn unfollowing_is_idempotent_and_writes_one_event() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (bob, _) = h.signed_in("bob");
    block_on(h.follows().follow(&alice, bob.user_id)).unwrap();
    block_on(h.follows().unfollow(&alice, bob.user_id)).unwrap();
    block_on(h.follows().unfollow(&alice, bob.user_id)).unwrap();
    block_on(h.follows().unfollow(&alice, UserId::generate())).unwrap();
    assert_eq!(h.content.event_types(), ["follow.created", "notification.created", "follow.deleted"]);
}

#[test]
fn following_again_within_a_day_notifies_no_one_but_still_writes_the_follow() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (bob, _) = h.signed_in("bob");
    for _ in 0..3 {
        block_on(h.follows().follow(&alice, bob.user_id)).unwrap();
        block_on(h.follows().unfollow(&alice, bob.user_id)).unwrap();
    }
    assert_eq!(h.content.notifications.lock().unwrap().len(), 1);
    assert_eq!(
        h.content.event_types(),
        [
            "follow.created",
            "notification.created",
            "follow.deleted",
            "follow.created",
            "follow.deleted",
            "follow.created",
            "follow.deleted"
        ]
    );
}

#[test]
fn following_again_after_a_day_notifies_again() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (bob, _) = h.signed_in("bob");
    block_on(h.follows().follow(&alice, bob.user_id)).unwrap();
    block_on(h.follows().unfollow(&alice, bob.user_id)).unwrap();
    let day_ago = h.clock.0 - crate::follow::FOLLOW_NOTICE_WINDOW - chrono::Duration::seconds(1);
    h.content.notifications.lock().unwrap()[0].created_at = day_ago;
    block_on(h.follows().follow(&alice, bob.user_id)).unwrap();
    assert_eq!(h.content.notifications.lock().unwrap().len(), 2);
}
