//! `AttemptLimiter` on PostgreSQL: one row per attempt, counted under a
//! per-address advisory lock, with refusals remembered in memory.

use application::PortError;
use application::ports::{Admission, AttemptId, AttemptLimiter, LoginLimits, RateLimit};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{Integer, Text};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shaku::Component;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::{Semaphore, SemaphorePermit};
use uuid::Uuid;

use super::schema::auth_attempts;
use super::{PgConnection, PgPool, checkout, failed};
use crate::persistence::attempts::{
    AttemptTable, LOGIN, REGISTRATION, Refusals, client_key, deciding_offset, login_keys, registration_key, start_purge,
};

/// Advisory-lock namespaces (first key of the two-key form): attempts of one
/// kind from one address are counted one at a time.
const LOGIN_LOCK: i32 = 0x6c6f_6769; // "logi"
const REGISTRATION_LOCK: i32 = 0x7265_6769; // "regi"

/// Connections the limiter may hold at once. Attempts from one address wait
/// for each other on the advisory lock, each holding a connection: under a
/// flood they would take the whole pool from every other endpoint.
const MAX_CONNECTIONS: usize = 4;

/// What the limiter and its purge task share.
pub struct Shared {
    pool: PgPool,
    connections: Semaphore,
    refusals: Refusals,
}

#[async_trait]
impl AttemptTable for Shared {
    fn refusals(&self) -> &Refusals {
        &self.refusals
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<(), PortError> {
        let mut conn = checkout(&self.pool).await?;
        diesel::delete(auth_attempts::table.filter(auth_attempts::attempted_at.lt(before)))
            .execute(&mut conn)
            .await
            .map_err(failed("purging attempts"))?;
        Ok(())
    }
}

/// Counts attempts in `auth_attempts`; shared by every instance.
#[derive(Component, Clone)]
#[shaku(interface = crate::di::AttemptLimiterPort)]
pub struct PgAttemptLimiter {
    shared: Arc<Shared>,
}

impl PgAttemptLimiter {
    /// Starts the purge of rows older than `retention` (the longest window);
    /// it ends when the last handle is dropped.
    #[must_use]
    pub fn start(pool: PgPool, retention: Duration) -> Self {
        let shared =
            Arc::new(Shared { pool, connections: Semaphore::new(MAX_CONNECTIONS), refusals: Refusals::default() });
        start_purge(&shared, retention);
        Self { shared }
    }

    /// A connection for counting, within the limiter's share of the pool.
    async fn connection(&self) -> Result<(SemaphorePermit<'_>, PgConnection), PortError> {
        let permit = self
            .shared
            .connections
            .acquire()
            .await
            .map_err(|e| PortError::Unknown(anyhow::Error::new(e).context("attempt limiter closed")))?;
        Ok((permit, checkout(&self.shared.pool).await?))
    }
}

/// Takes the transaction-scoped advisory lock of (`lock`, `client`).
async fn lock(conn: &mut AsyncPgConnection, lock: i32, client: &str) -> Result<(), diesel::result::Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind::<Integer, _>(lock)
        .bind::<Text, _>(client)
        .execute(conn)
        .await?;
    Ok(())
}

/// When the `limit.max`-th newest attempt within the window leaves it, if
/// there are that many: the instant one more attempt becomes possible.
async fn frees_at(
    conn: &mut AsyncPgConnection,
    kind: &str,
    client: &str,
    username: Option<&str>,
    limit: &RateLimit,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, diesel::result::Error> {
    let Some(offset) = deciding_offset(limit.max) else {
        return Ok(Some(now + limit.window));
    };
    let mut query = auth_attempts::table
        .filter(auth_attempts::client.eq(client))
        .filter(auth_attempts::kind.eq(kind))
        .filter(auth_attempts::attempted_at.gt(now - limit.window))
        .select(auth_attempts::attempted_at)
        .order(auth_attempts::attempted_at.desc())
        .offset(offset)
        .limit(1)
        .into_boxed();
    if let Some(username) = username {
        query = query.filter(auth_attempts::username.eq(username));
    }
    let blocking: Option<DateTime<Utc>> = query.first(conn).await.optional()?;
    Ok(blocking.map(|at| at + limit.window))
}

async fn record(
    conn: &mut AsyncPgConnection,
    kind: &str,
    client: &str,
    username: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AttemptId, diesel::result::Error> {
    let id = Uuid::now_v7();
    diesel::insert_into(auth_attempts::table)
        .values((
            auth_attempts::id.eq(id),
            auth_attempts::kind.eq(kind),
            auth_attempts::client.eq(client),
            auth_attempts::username.eq(username),
            auth_attempts::attempted_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(AttemptId(id))
}

#[async_trait]
impl AttemptLimiter for PgAttemptLimiter {
    #[tracing::instrument(skip_all, fields(client = %client))]
    async fn begin_login(
        &self,
        username: &str,
        client: IpAddr,
        limits: &LoginLimits,
        now: DateTime<Utc>,
    ) -> Result<Admission, PortError> {
        let client = client_key(client);
        let [address_key, username_key] = login_keys(&client, username);
        if let Some(refused) = self.shared.refusals.remembered(&[address_key.clone(), username_key.clone()], now) {
            return Ok(refused);
        }
        let (_permit, mut conn) = self.connection().await?;
        let counted = conn
            .transaction(async |conn| {
                lock(conn, LOGIN_LOCK, &client).await?;
                let address = frees_at(conn, LOGIN, &client, None, &limits.per_address, now).await?;
                let name = frees_at(conn, LOGIN, &client, Some(username), &limits.per_username, now).await?;
                if address.is_some() || name.is_some() {
                    return Ok(Err(vec![(address_key, address), (username_key, name)]));
                }
                record(conn, LOGIN, &client, Some(username), now).await.map(Ok)
            })
            .await
            .map_err(failed("counting login attempts"))?;
        Ok(self.shared.refusals.answer(counted, now))
    }

    async fn clear_logins(&self, username: &str, client: IpAddr) -> Result<(), PortError> {
        let mut conn = checkout(&self.shared.pool).await?;
        diesel::delete(
            auth_attempts::table
                .filter(auth_attempts::client.eq(client_key(client)))
                .filter(auth_attempts::kind.eq(LOGIN))
                .filter(auth_attempts::username.eq(username)),
        )
        .execute(&mut conn)
        .await
        .map_err(failed("clearing login attempts"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(client = %client))]
    async fn begin_registration(
        &self,
        client: IpAddr,
        limit: &RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Admission, PortError> {
        let client = client_key(client);
        let key = registration_key(&client);
        if let Some(refused) = self.shared.refusals.remembered(std::slice::from_ref(&key), now) {
            return Ok(refused);
        }
        let (_permit, mut conn) = self.connection().await?;
        let counted = conn
            .transaction(async |conn| {
                lock(conn, REGISTRATION_LOCK, &client).await?;
                if let Some(until) = frees_at(conn, REGISTRATION, &client, None, limit, now).await? {
                    return Ok(Err(vec![(key, Some(until))]));
                }
                record(conn, REGISTRATION, &client, None, now).await.map(Ok)
            })
            .await
            .map_err(failed("counting registrations"))?;
        Ok(self.shared.refusals.answer(counted, now))
    }

    async fn forget(&self, attempt: AttemptId) -> Result<(), PortError> {
        let mut conn = checkout(&self.shared.pool).await?;
        diesel::delete(auth_attempts::table.filter(auth_attempts::id.eq(attempt.0)))
            .execute(&mut conn)
            .await
            .map_err(failed("forgetting an attempt"))?;
        Ok(())
    }
}
