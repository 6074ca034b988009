//! Contract tests of the repository ports: every test runs the same checks
//! against each adapter of a port, SQLite always and PostgreSQL when
//! `TEST_DATABASE_URL` is set (required when `CI` is set), so the two
//! families cannot drift apart.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly where it breaks")]

mod accounts;
mod activity;
mod attempts;
mod revocations;
mod support;
mod tokens;
mod users;
