//! `TicketStore` on SQLite: random tickets stored as SHA-256 digests.

use application::PortError;
use application::ports::{AccessClaims, TicketStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl};
use shaku::Component;

use super::Sqlite;
use super::schema::ws_tickets;
use super::types::{Id, Instant};
use crate::persistence::secrets::{digest, random_token, ticket_claims};

#[derive(Component)]
#[shaku(interface = crate::di::TicketStorePort)]
pub struct SqliteTicketStore {
    db: Sqlite,
}

impl SqliteTicketStore {
    #[must_use]
    pub const fn new(db: Sqlite) -> Self {
        Self { db }
    }
}

#[async_trait]
impl TicketStore for SqliteTicketStore {
    async fn issue(&self, claims: &AccessClaims, expires_at: DateTime<Utc>) -> Result<String, PortError> {
        let ticket = random_token();
        let hash = digest(&ticket);
        let claims = claims.clone();
        self.db
            .write("storing a ticket", move |conn| {
                // Expired tickets are cleared on the way: the table stays as small as the last 30 s.
                diesel::delete(ws_tickets::table.filter(ws_tickets::expires_at.lt(Instant(Utc::now()))))
                    .execute(conn)?;
                diesel::insert_into(ws_tickets::table)
                    .values((
                        ws_tickets::ticket_hash.eq(hash),
                        ws_tickets::user_id.eq(Id(*claims.user_id.as_uuid())),
                        ws_tickets::role.eq(claims.role.as_str()),
                        ws_tickets::token_id.eq(Id(claims.token_id)),
                        ws_tickets::token_expires_at.eq(Instant(claims.expires_at)),
                        ws_tickets::expires_at.eq(Instant(expires_at)),
                    ))
                    .execute(conn)
            })
            .await?;
        Ok(ticket)
    }

    async fn redeem(&self, ticket: &str, now: DateTime<Utc>) -> Result<Option<AccessClaims>, PortError> {
        let hash = digest(ticket);
        // Read and delete in one write transaction: writers take turns on the
        // one writer connection, so of two concurrent redemptions only one
        // finds the row.
        let row: Option<(Id, String, Id, Instant, Instant)> = self
            .db
            .write("redeeming a ticket", move |conn| {
                let row = ws_tickets::table
                    .find(&hash)
                    .select((
                        ws_tickets::user_id,
                        ws_tickets::role,
                        ws_tickets::token_id,
                        ws_tickets::token_expires_at,
                        ws_tickets::expires_at,
                    ))
                    .first(conn)
                    .optional()?;
                if row.is_some() {
                    diesel::delete(ws_tickets::table.find(&hash)).execute(conn)?;
                }
                Ok(row)
            })
            .await?;
        let ticket = row.map(|(user_id, role, token_id, token_expires_at, expires_at)| {
            (user_id.0, role, token_id.0, token_expires_at.0, expires_at.0)
        });
        Ok(ticket.map(|ticket| ticket_claims(ticket, now)).transpose()?.flatten())
    }
}
