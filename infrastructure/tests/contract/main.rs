//! Contract tests of the repository ports: every test runs the same checks
//! against each adapter of a port, SQLite always and PostgreSQL when
//! `TEST_DATABASE_URL` is set (required when `CI` is set), so the two
//! families cannot drift apart.

mod accounts;
mod attempts;
mod revocations;
mod support;
mod tokens;
mod users;
