//! Durable storage behind the in-memory revocation list.

use application::PortError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::upsert::excluded;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use super::outbox::Outbox;
use super::schema::{revoked_tokens, revoked_users};
use super::{PgPool, checkout, failed};
use crate::events::EventData;
use crate::security::{RevocationStore, RevokedSnapshot};

/// The `revoked_tokens` and `revoked_users` tables. Each revocation also
/// writes an outbox event in the same transaction, so every other instance
/// learns of it.
#[derive(Clone)]
pub struct PgRevocationStore {
    pool: PgPool,
    outbox: Outbox,
}

impl PgRevocationStore {
    #[must_use]
    pub const fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }
}

#[async_trait]
impl RevocationStore for PgRevocationStore {
    async fn save_token(&self, jti: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError> {
        let mut conn = checkout(&self.pool).await?;
        conn.transaction(async |conn| {
            diesel::insert_into(revoked_tokens::table)
                .values((revoked_tokens::jti.eq(jti), revoked_tokens::expires_at.eq(expires_at)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            self.outbox.append_system(conn, &EventData::AuthRevoked { token_id: jti, expires_at }).await
        })
        .await
        .map_err(failed("storing a revoked token"))?;
        self.outbox.committed();
        Ok(())
    }

    async fn save_user(&self, user_id: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError> {
        let mut conn = checkout(&self.pool).await?;
        conn.transaction(async |conn| {
            diesel::insert_into(revoked_users::table)
                .values((revoked_users::user_id.eq(user_id), revoked_users::expires_at.eq(expires_at)))
                .on_conflict(revoked_users::user_id)
                .do_update()
                .set((
                    revoked_users::expires_at.eq(excluded(revoked_users::expires_at)),
                    revoked_users::revoked_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            self.outbox.append_system(conn, &EventData::UserDeleted { user_id, expires_at }).await
        })
        .await
        .map_err(failed("storing a revoked user"))?;
        self.outbox.committed();
        Ok(())
    }

    async fn load_live(&self, now: DateTime<Utc>) -> Result<RevokedSnapshot, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let tokens = revoked_tokens::table
            .filter(revoked_tokens::expires_at.gt(now))
            .select((revoked_tokens::jti, revoked_tokens::expires_at))
            .load(&mut conn)
            .await
            .map_err(failed("loading revoked tokens"))?;
        let users = revoked_users::table
            .filter(revoked_users::expires_at.gt(now))
            .select((revoked_users::user_id, revoked_users::expires_at))
            .load(&mut conn)
            .await
            .map_err(failed("loading revoked users"))?;
        Ok(RevokedSnapshot { tokens, users })
    }

    async fn written_since(&self, since: DateTime<Utc>) -> Result<(RevokedSnapshot, DateTime<Utc>), PortError> {
        let mut conn = checkout(&self.pool).await?;
        let now: DateTime<Utc> = diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamptz>("now()"))
            .get_result(&mut conn)
            .await
            .map_err(failed("reading the time"))?;
        let tokens = revoked_tokens::table
            .filter(revoked_tokens::revoked_at.ge(since))
            .select((revoked_tokens::jti, revoked_tokens::expires_at))
            .load(&mut conn)
            .await
            .map_err(failed("reading new revoked tokens"))?;
        let users = revoked_users::table
            .filter(revoked_users::revoked_at.ge(since))
            .select((revoked_users::user_id, revoked_users::expires_at))
            .load(&mut conn)
            .await
            .map_err(failed("reading new revoked users"))?;
        Ok((RevokedSnapshot { tokens, users }, now))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<(), PortError> {
        let mut conn = checkout(&self.pool).await?;
        diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now)))
            .execute(&mut conn)
            .await
            .map_err(failed("purging revoked tokens"))?;
        diesel::delete(revoked_users::table.filter(revoked_users::expires_at.le(now)))
            .execute(&mut conn)
            .await
            .map_err(failed("purging revoked users"))?;
        Ok(())
    }
}
