//! `RefreshTokenStore` on PostgreSQL: random tokens, stored as SHA-256 digests.

use application::PortError;
use application::ports::{RefreshOutcome, RefreshTokenStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use domain::UserId;
use shaku::Component;
use uuid::Uuid;

use super::schema::refresh_tokens as rt;
use super::{PgPool, checkout, failed};
use crate::persistence::secrets::{digest, random_token};

#[derive(Component)]
#[shaku(interface = crate::di::RefreshTokenStorePort)]
pub struct PgRefreshTokenStore {
    pool: PgPool,
}

impl PgRefreshTokenStore {
    #[must_use]
    pub const fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl RefreshTokenStore for PgRefreshTokenStore {
    async fn issue(&self, user_id: UserId, family: Uuid, expires_at: DateTime<Utc>) -> Result<String, PortError> {
        let token = random_token();
        let mut conn = checkout(&self.pool).await?;
        diesel::insert_into(rt::table)
            .values((
                rt::token_hash.eq(digest(&token)),
                rt::user_id.eq(user_id.as_uuid()),
                rt::family_id.eq(family),
                rt::expires_at.eq(expires_at),
            ))
            .execute(&mut conn)
            .await
            .map_err(failed("storing a refresh token"))?;
        Ok(token)
    }

    async fn rotate(&self, presented: &str, now: DateTime<Utc>) -> Result<RefreshOutcome, PortError> {
        let hash = digest(presented);
        let mut conn = checkout(&self.pool).await?;
        // One conditional UPDATE spends the token: of two concurrent callers, the
        // row lock lets exactly one see `spent_at IS NULL`.
        let spent: Option<(Uuid, Uuid)> = diesel::update(
            rt::table
                .filter(rt::token_hash.eq(&hash))
                .filter(rt::spent_at.is_null())
                .filter(rt::revoked_at.is_null())
                .filter(rt::expires_at.gt(now)),
        )
        .set(rt::spent_at.eq(now))
        .returning((rt::user_id, rt::family_id))
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(failed("spending a refresh token"))?;
        if let Some((user_id, family)) = spent {
            return Ok(RefreshOutcome::Rotated { user_id: UserId::from_uuid(user_id), family });
        }
        // Not spendable: a live-but-spent token is a replay; anything else is just invalid.
        let replayed: Option<(Uuid, Uuid)> = rt::table
            .filter(rt::token_hash.eq(&hash))
            .filter(rt::spent_at.is_not_null())
            .filter(rt::revoked_at.is_null())
            .filter(rt::expires_at.gt(now))
            .select((rt::user_id, rt::family_id))
            .first(&mut conn)
            .await
            .optional()
            .map_err(failed("looking up a refresh token"))?;
        Ok(match replayed {
            Some((user_id, family)) => RefreshOutcome::Reused { user_id: UserId::from_uuid(user_id), family },
            None => RefreshOutcome::Invalid,
        })
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), PortError> {
        let mut conn = checkout(&self.pool).await?;
        diesel::update(rt::table.filter(rt::family_id.eq(family)).filter(rt::revoked_at.is_null()))
            .set(rt::revoked_at.eq(Utc::now()))
            .execute(&mut conn)
            .await
            .map_err(failed("revoking a refresh token family"))?;
        Ok(())
    }

    async fn revoke_presented(&self, presented: &str, owner: UserId) -> Result<(), PortError> {
        let mut conn = checkout(&self.pool).await?;
        let family: Option<Uuid> = rt::table
            .filter(rt::token_hash.eq(digest(presented)))
            .filter(rt::user_id.eq(owner.as_uuid()))
            .select(rt::family_id)
            .first(&mut conn)
            .await
            .optional()
            .map_err(failed("looking up a refresh token"))?;
        drop(conn);
        match family {
            Some(family) => self.revoke_family(family).await,
            None => Ok(()),
        }
    }
}
