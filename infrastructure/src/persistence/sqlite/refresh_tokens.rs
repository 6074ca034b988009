//! `RefreshTokenStore` on SQLite: random tokens, stored as SHA-256 digests.

use application::PortError;
use application::ports::{RefreshOutcome, RefreshTokenStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, SqliteConnection};
use domain::UserId;
use shaku::Component;
use uuid::Uuid;

use super::Sqlite;
use super::schema::refresh_tokens as rt;
use super::types::{Id, Instant};
use crate::persistence::secrets::{digest, random_token};

#[derive(Component)]
#[shaku(interface = crate::di::RefreshTokenStorePort)]
pub struct SqliteRefreshTokenStore {
    db: Sqlite,
}

impl SqliteRefreshTokenStore {
    #[must_use]
    pub const fn new(db: Sqlite) -> Self {
        Self { db }
    }
}

fn revoke(conn: &mut SqliteConnection, family: Id) -> QueryResult<usize> {
    diesel::update(rt::table.filter(rt::family_id.eq(family)).filter(rt::revoked_at.is_null()))
        .set(rt::revoked_at.eq(Instant(Utc::now())))
        .execute(conn)
}

#[async_trait]
impl RefreshTokenStore for SqliteRefreshTokenStore {
    async fn issue(&self, user_id: UserId, family: Uuid, expires_at: DateTime<Utc>) -> Result<String, PortError> {
        let token = random_token();
        let hash = digest(&token);
        let user_id = Id(*user_id.as_uuid());
        self.db
            .write("storing a refresh token", move |conn| {
                diesel::insert_into(rt::table)
                    .values((
                        rt::token_hash.eq(hash),
                        rt::user_id.eq(user_id),
                        rt::family_id.eq(Id(family)),
                        rt::expires_at.eq(Instant(expires_at)),
                        rt::created_at.eq(Instant(Utc::now())),
                    ))
                    .execute(conn)
            })
            .await?;
        Ok(token)
    }

    async fn rotate(&self, presented: &str, now: DateTime<Utc>) -> Result<RefreshOutcome, PortError> {
        let hash = digest(presented);
        // Read and spend in one write transaction: writers take turns on the
        // one writer connection, so of two concurrent callers exactly one sees
        // the token unspent.
        let found: Option<(Id, Id, Option<Instant>)> = self
            .db
            .write("spending a refresh token", move |conn| {
                let live: Option<(Id, Id, Option<Instant>)> = rt::table
                    .filter(rt::token_hash.eq(&hash))
                    .filter(rt::revoked_at.is_null())
                    .filter(rt::expires_at.gt(Instant(now)))
                    .select((rt::user_id, rt::family_id, rt::spent_at))
                    .first(conn)
                    .optional()?;
                if let Some((_, _, None)) = live {
                    diesel::update(rt::table.find(&hash)).set(rt::spent_at.eq(Instant(now))).execute(conn)?;
                }
                Ok(live)
            })
            .await?;
        Ok(match found {
            Some((user_id, family, None)) => {
                RefreshOutcome::Rotated { user_id: UserId::from_uuid(user_id.0), family: family.0 }
            }
            // Live but spent: a replay.
            Some((user_id, family, Some(_))) => {
                RefreshOutcome::Reused { user_id: UserId::from_uuid(user_id.0), family: family.0 }
            }
            None => RefreshOutcome::Invalid,
        })
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), PortError> {
        self.db.write("revoking a refresh token family", move |conn| revoke(conn, Id(family))).await?;
        Ok(())
    }

    async fn revoke_presented(&self, presented: &str, owner: UserId) -> Result<(), PortError> {
        let hash = digest(presented);
        let owner = Id(*owner.as_uuid());
        self.db
            .write("revoking a presented refresh token", move |conn| {
                let family: Option<Id> = rt::table
                    .filter(rt::token_hash.eq(hash))
                    .filter(rt::user_id.eq(owner))
                    .select(rt::family_id)
                    .first(conn)
                    .optional()?;
                match family {
                    Some(family) => revoke(conn, family).map(drop),
                    None => Ok(()),
                }
            })
            .await
    }
}
