//! The HTTP and WebSocket suite on the served family: the real PostgreSQL
//! (`TEST_DATABASE_URL`) and RabbitMQ (`TEST_AMQP_URL`), one database and one
//! exchange per test. Compiled only when both variables are set at build time
//! (`.ci/run` sets them); otherwise this binary holds one test, which says so
//! and fails under CI: there a family that cannot run is a failure.

#![cfg_attr(
    served_tests,
    expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly where it breaks")
)]

/// The family of adapters every test of this binary starts.
#[cfg(served_tests)]
pub const FAMILY: helpers::Family = helpers::Family::Served;

#[cfg(served_tests)]
#[path = "../http/admin.rs"]
mod admin;
#[cfg(served_tests)]
#[path = "../http/auth.rs"]
mod auth;
#[cfg(served_tests)]
#[path = "../http/avatars.rs"]
mod avatars;
#[cfg(served_tests)]
#[path = "../http/broker_drill.rs"]
mod broker_drill;
#[cfg(served_tests)]
#[path = "../http/docs.rs"]
mod docs;
#[cfg(served_tests)]
#[path = "../http/errors.rs"]
mod errors;
#[cfg(served_tests)]
#[path = "../http/follows.rs"]
mod follows;
#[cfg(served_tests)]
#[path = "../http/helpers.rs"]
mod helpers;
#[cfg(served_tests)]
#[path = "../http/live.rs"]
mod live;
#[cfg(served_tests)]
#[path = "../http/live_broker.rs"]
mod live_broker;
#[cfg(served_tests)]
#[path = "../http/metrics.rs"]
mod metrics;
#[cfg(served_tests)]
#[path = "../http/notifications.rs"]
mod notifications;
#[cfg(served_tests)]
#[path = "../http/outage.rs"]
mod outage;
#[cfg(served_tests)]
#[path = "../http/outbox.rs"]
mod outbox;
#[cfg(served_tests)]
#[path = "../http/posts.rs"]
mod posts;
#[cfg(served_tests)]
#[path = "../http/relay.rs"]
mod relay;
#[cfg(served_tests)]
#[path = "../http/switch.rs"]
mod switch;
#[cfg(served_tests)]
#[path = "../http/throttle.rs"]
mod throttle;
#[cfg(served_tests)]
#[path = "../http/tokens.rs"]
mod tokens;
#[cfg(served_tests)]
#[path = "../http/unstorable.rs"]
mod unstorable;
#[cfg(served_tests)]
#[path = "../http/users.rs"]
mod users;
#[cfg(served_tests)]
#[path = "../http/web.rs"]
mod web;
#[cfg(served_tests)]
#[path = "../http/webhooks.rs"]
mod webhooks;

#[cfg(served_tests)]
#[path = "../http/search_served.rs"]
mod search_served;
#[cfg(served_tests)]
#[path = "../http/webhooks_broker.rs"]
mod webhooks_broker;
#[cfg(not(served_tests))]
#[test]
fn served_family_needs_test_database_url_and_test_amqp_url() {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must set TEST_DATABASE_URL and TEST_AMQP_URL: the served family cannot be skipped"
    );
    eprintln!("served family (PostgreSQL + RabbitMQ) not run: TEST_DATABASE_URL and TEST_AMQP_URL are unset");
}
