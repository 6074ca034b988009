//! The HTTP and WebSocket suite on the embedded family: SQLite in a file of
//! its own per test and the in-process event bus. Needs nothing installed.
//! The tests that are about several processes, the broker or PostgreSQL
//! itself run only in the served suite.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly where it breaks")]

/// The family of adapters every test of this binary starts.
pub const FAMILY: helpers::Family = helpers::Family::Embedded;

#[path = "../http/admin.rs"]
mod admin;
#[path = "../http/auth.rs"]
mod auth;
#[path = "../http/avatars.rs"]
mod avatars;
#[path = "../http/docs.rs"]
mod docs;
#[path = "../http/errors.rs"]
mod errors;
#[path = "../http/follows.rs"]
mod follows;
#[path = "../http/helpers.rs"]
mod helpers;
#[path = "../http/live.rs"]
mod live;
#[path = "../http/metrics.rs"]
mod metrics;
#[path = "../http/notifications.rs"]
mod notifications;
#[path = "../http/posts.rs"]
mod posts;
#[path = "../http/throttle.rs"]
mod throttle;
#[path = "../http/tokens.rs"]
mod tokens;
#[path = "../http/unstorable.rs"]
mod unstorable;
#[path = "../http/users.rs"]
mod users;
#[path = "../http/web.rs"]
mod web;
#[path = "../http/webhooks.rs"]
mod webhooks;
