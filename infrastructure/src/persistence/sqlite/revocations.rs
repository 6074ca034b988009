//! Durable storage behind the in-memory revocation list, on SQLite.

use application::PortError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::upsert::excluded;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use uuid::Uuid;

use super::Sqlite;
use super::outbox::append_system;
use super::schema::{revoked_tokens, revoked_users};
use super::types::{Id, Instant};
use crate::events::EventData;
use crate::persistence::outbox::Outbox;
use crate::security::{RevocationStore, RevokedSnapshot};

/// Revoked ids with their expiry, as stored.
type Rows = Vec<(Id, Instant)>;

/// The `revoked_tokens` and `revoked_users` tables. Each revocation also
/// writes an outbox event in the same transaction, as on PostgreSQL, so that
/// consumers of the event bus (the notifier) learn of it.
#[derive(Clone)]
pub struct SqliteRevocationStore {
    db: Sqlite,
    outbox: Outbox,
}

impl SqliteRevocationStore {
    #[must_use]
    pub const fn new(db: Sqlite, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// The revocations still in force at `live_at` and written since
    /// `written_since`, each condition applying when given.
    async fn read(
        &self,
        context: &'static str,
        live_at: Option<DateTime<Utc>>,
        written_since: Option<DateTime<Utc>>,
    ) -> Result<RevokedSnapshot, PortError> {
        let (tokens, users): (Rows, Rows) = self
            .db
            .read(context, move |conn| {
                let mut tokens =
                    revoked_tokens::table.select((revoked_tokens::jti, revoked_tokens::expires_at)).into_boxed();
                let mut users =
                    revoked_users::table.select((revoked_users::user_id, revoked_users::expires_at)).into_boxed();
                if let Some(now) = live_at {
                    tokens = tokens.filter(revoked_tokens::expires_at.gt(Instant(now)));
                    users = users.filter(revoked_users::expires_at.gt(Instant(now)));
                }
                if let Some(since) = written_since {
                    tokens = tokens.filter(revoked_tokens::revoked_at.ge(Instant(since)));
                    users = users.filter(revoked_users::revoked_at.ge(Instant(since)));
                }
                Ok((tokens.load(conn)?, users.load(conn)?))
            })
            .await?;
        let unwrap = |rows: Rows| rows.into_iter().map(|(id, at)| (id.0, at.0)).collect();
        Ok(RevokedSnapshot { tokens: unwrap(tokens), users: unwrap(users) })
    }
}

#[async_trait]
impl RevocationStore for SqliteRevocationStore {
    async fn save_token(&self, jti: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError> {
        let outbox = self.outbox.clone();
        self.db
            .write("storing a revoked token", move |conn| {
                diesel::insert_into(revoked_tokens::table)
                    .values((
                        revoked_tokens::jti.eq(Id(jti)),
                        revoked_tokens::expires_at.eq(Instant(expires_at)),
                        revoked_tokens::revoked_at.eq(Instant(Utc::now())),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)?;
                append_system(&outbox, conn, &EventData::AuthRevoked { token_id: jti, expires_at })
            })
            .await?;
        self.outbox.committed();
        Ok(())
    }

    async fn save_user(&self, user_id: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError> {
        let outbox = self.outbox.clone();
        self.db
            .write("storing a revoked user", move |conn| {
                let now = Instant(Utc::now());
                diesel::insert_into(revoked_users::table)
                    .values((
                        revoked_users::user_id.eq(Id(user_id)),
                        revoked_users::expires_at.eq(Instant(expires_at)),
                        revoked_users::revoked_at.eq(now),
                    ))
                    .on_conflict(revoked_users::user_id)
                    .do_update()
                    .set((
                        revoked_users::expires_at.eq(excluded(revoked_users::expires_at)),
                        revoked_users::revoked_at.eq(now),
                    ))
                    .execute(conn)?;
                append_system(&outbox, conn, &EventData::UserDeleted { user_id, expires_at })
            })
            .await?;
        self.outbox.committed();
        Ok(())
    }

    async fn load_live(&self, now: DateTime<Utc>) -> Result<RevokedSnapshot, PortError> {
        self.read("loading revocations", Some(now), None).await
    }

    async fn written_since(&self, since: DateTime<Utc>) -> Result<(RevokedSnapshot, DateTime<Utc>), PortError> {
        // The clock that stamps `revoked_at` is this process's: read it before
        // the rows, so that a revocation stamped after this look is seen by
        // the next one.
        let now = Utc::now();
        Ok((self.read("reading new revocations", None, Some(since)).await?, now))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<(), PortError> {
        self.db
            .write("purging revocations", move |conn| {
                diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(Instant(now))))
                    .execute(conn)?;
                diesel::delete(revoked_users::table.filter(revoked_users::expires_at.le(Instant(now))))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }
}
