//! Contract tests of the repository ports: every test runs the same checks
//! against each adapter of a port, SQLite always and PostgreSQL when
//! `TEST_DATABASE_URL` is set (required when `CI` is set), so the two
//! families cannot drift apart.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly where it breaks")]

mod accounts;
mod fixtures;
mod support;

// The account ports.
mod activity;
mod attempts;
mod revocations;
mod tokens;
mod users;

// The event bus and the relay over each outbox.
mod bus;
mod relay;

// The content ports.
mod follows;
mod notifications;
mod notifier_store;
mod posts;

// Webhooks: the repository and the embedded delivery pipeline.
mod webhook_pipeline;
mod webhooks;
