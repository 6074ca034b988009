//! Outbox rows inserted on SQLite, inside the caller's write transaction.

use diesel::{ExpressionMethods, RunQueryDsl, SqliteConnection};
use domain::Envelope;

use super::schema::outbox;
use super::types::{Id, Instant};
use crate::events::EventData;
use crate::persistence::outbox::{Outbox, OutboxRow};

/// Appends one event that has no domain meaning (`auth.revoked`, `user.deleted`).
///
/// # Errors
/// The database error; the caller's transaction then rolls back.
pub fn append_system(outbox: &Outbox, conn: &mut SqliteConnection, event: &EventData) -> diesel::QueryResult<()> {
    insert(conn, vec![outbox.system_row(event)?])
}

/// Appends `envelopes` on `conn`, inside the caller's transaction.
///
/// # Errors
/// The database error; the caller's transaction then rolls back.
pub fn append(outbox: &Outbox, conn: &mut SqliteConnection, envelopes: &[Envelope]) -> diesel::QueryResult<()> {
    insert(conn, outbox.rows(envelopes)?)
}

fn insert(conn: &mut SqliteConnection, rows: Vec<OutboxRow>) -> diesel::QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = rows
        .into_iter()
        .map(|row| {
            (
                outbox::id.eq(Id(row.id)),
                outbox::event_type.eq(row.event_type),
                outbox::payload.eq(row.payload.to_string()),
                outbox::created_at.eq(Instant(row.created_at)),
                outbox::request_id.eq(row.request_id),
            )
        })
        .collect();
    diesel::insert_into(outbox::table).values(rows).execute(conn)?;
    Ok(())
}
