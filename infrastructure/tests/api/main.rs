//! HTTP tests of the api against the real PostgreSQL server, one database per test.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly where it breaks")]

mod admin;
mod auth;
mod avatars;
mod broker_drill;
mod docs;
mod errors;
mod follows;
mod helpers;
mod live;
mod metrics;
mod notifications;
mod outage;
mod outbox;
mod posts;
mod relay;
mod switch;
mod throttle;
mod tokens;
mod unstorable;
mod users;
mod webhooks;
