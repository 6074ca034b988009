//! Outbox rows inserted on PostgreSQL, inside the caller's transaction.

use diesel::ExpressionMethods;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::Envelope;

use super::schema::outbox;
use crate::events::EventData;
pub use crate::persistence::outbox::Outbox;
use crate::persistence::outbox::OutboxRow;

impl Outbox {
    /// Appends one event that has no domain meaning (`auth.revoked`, `user.deleted`).
    ///
    /// # Errors
    /// The database error; the caller's transaction then rolls back.
    pub async fn append_system(&self, conn: &AsyncPgConnection, event: &EventData) -> diesel::QueryResult<()> {
        insert(conn, vec![self.system_row(event)?]).await
    }

    /// Appends `envelopes` on `conn`, inside the caller's transaction. It
    /// takes the connection shared, so that the insert can be sent in one
    /// round trip with other statements of the transaction (pipelined).
    ///
    /// # Errors
    /// The database error; the caller's transaction then rolls back.
    pub async fn append(&self, conn: &AsyncPgConnection, envelopes: &[Envelope]) -> diesel::QueryResult<()> {
        insert(conn, self.rows(envelopes)?).await
    }
}

async fn insert(mut conn: &AsyncPgConnection, rows: Vec<OutboxRow>) -> diesel::QueryResult<()> {
    let values = |row: OutboxRow| {
        (
            outbox::id.eq(row.id),
            outbox::event_type.eq(row.event_type),
            outbox::payload.eq(row.payload),
            outbox::created_at.eq(row.created_at),
            outbox::request_id.eq(row.request_id),
        )
    };
    let mut rows = rows.into_iter();
    match (rows.next(), rows.len()) {
        (None, _) => Ok(()),
        // One row (most writes) as a single-row insert: a prepared statement
        // kept by the connection, where a batch of any size is sent as text.
        (Some(row), 0) => diesel::insert_into(outbox::table).values(values(row)).execute(&mut conn).await.map(drop),
        (Some(first), _) => {
            let batch: Vec<_> = std::iter::once(first).chain(rows).map(values).collect();
            diesel::insert_into(outbox::table).values(batch).execute(&mut conn).await.map(drop)
        }
    }
}
