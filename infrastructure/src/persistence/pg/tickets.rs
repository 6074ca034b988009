//! `TicketStore` on PostgreSQL: random tickets stored as SHA-256 digests.

use application::PortError;
use application::ports::{AccessClaims, TicketStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use shaku::Component;

use super::schema::ws_tickets;
use super::{PgPool, checkout, failed};
use crate::persistence::secrets::{StoredTicket, digest, random_token, ticket_claims};

#[derive(Component)]
#[shaku(interface = crate::di::TicketStorePort)]
pub struct PgTicketStore {
    pool: PgPool,
}

impl PgTicketStore {
    #[must_use]
    pub const fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl TicketStore for PgTicketStore {
    async fn issue(&self, claims: &AccessClaims, expires_at: DateTime<Utc>) -> Result<String, PortError> {
        let ticket = random_token();
        let mut conn = checkout(&self.pool).await?;
        // Expired tickets are cleared on the way: the table stays as small as the last 30 s.
        diesel::delete(ws_tickets::table.filter(ws_tickets::expires_at.lt(Utc::now())))
            .execute(&mut conn)
            .await
            .map_err(failed("clearing expired tickets"))?;
        diesel::insert_into(ws_tickets::table)
            .values((
                ws_tickets::ticket_hash.eq(digest(&ticket)),
                ws_tickets::user_id.eq(claims.user_id.as_uuid()),
                ws_tickets::role.eq(claims.role.as_str()),
                ws_tickets::token_id.eq(claims.token_id),
                ws_tickets::token_expires_at.eq(claims.expires_at),
                ws_tickets::expires_at.eq(expires_at),
            ))
            .execute(&mut conn)
            .await
            .map_err(failed("storing a ticket"))?;
        Ok(ticket)
    }

    async fn redeem(&self, ticket: &str, now: DateTime<Utc>) -> Result<Option<AccessClaims>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        // DELETE ... RETURNING: of two concurrent redemptions only one gets the row.
        let row: Option<StoredTicket> =
            diesel::delete(ws_tickets::table.filter(ws_tickets::ticket_hash.eq(digest(ticket))))
                .returning((
                    ws_tickets::user_id,
                    ws_tickets::role,
                    ws_tickets::token_id,
                    ws_tickets::token_expires_at,
                    ws_tickets::expires_at,
                ))
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(failed("redeeming a ticket"))?;
        Ok(row.map(|ticket| ticket_claims(ticket, now)).transpose()?.flatten())
    }
}
