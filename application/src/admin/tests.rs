use chrono::Duration;
use futures::executor::block_on;

use super::Interval;
use crate::ApplicationError;
use crate::testing::Harness;

#[test]
fn statistics_are_for_admins_only() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    assert!(matches!(block_on(h.stats().window(&alice, Interval::Day)), Err(ApplicationError::Forbidden(_))));
}

#[test]
fn a_window_ends_now_and_counts_authenticated_users_and_new_accounts() {
    let h = Harness::default();
    let admin = h.make_admin("root_admin");
    h.signed_in("alice");
    h.register("bob", None, None).unwrap();
    let window = block_on(h.stats().window(&admin, Interval::Week)).unwrap();
    assert_eq!(window.to, h.clock.0);
    assert_eq!(window.to - window.from, Duration::days(7));
    assert_eq!(window.counts.active_users, 2, "alice and the admin authenticated; bob never did");
    assert_eq!(window.counts.new_users, 3);
}

#[test]
fn intervals_parse_from_their_names_only() {
    assert_eq!("month".parse::<Interval>(), Ok(Interval::Month));
    assert_eq!(Interval::Month.length(), Duration::days(30));
    assert!("year".parse::<Interval>().is_err());
}
