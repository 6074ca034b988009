//! `AttemptLimiter` on SQLite: one row per attempt, counted and recorded in
//! one write transaction, with refusals remembered in memory.

use application::PortError;
use application::ports::{Admission, AttemptId, AttemptLimiter, LoginLimits, RateLimit};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl, SqliteConnection};
use shaku::Component;
use std::net::IpAddr;
use std::sync::Arc;
use uuid::Uuid;

use super::Sqlite;
use super::schema::auth_attempts;
use super::types::{Id, Instant};
use crate::persistence::attempts::{
    AttemptTable, LOGIN, REGISTRATION, Refusals, client_key, deciding_offset, login_keys, registration_key, start_purge,
};

/// What the limiter and its purge task share.
pub struct Shared {
    db: Sqlite,
    refusals: Refusals,
}

#[async_trait]
impl AttemptTable for Shared {
    fn refusals(&self) -> &Refusals {
        &self.refusals
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<(), PortError> {
        self.db
            .write("purging attempts", move |conn| {
                diesel::delete(auth_attempts::table.filter(auth_attempts::attempted_at.lt(Instant(before))))
                    .execute(conn)
            })
            .await?;
        Ok(())
    }
}

/// Counts attempts in `auth_attempts`.
///
/// PostgreSQL serializes the attempts of one client with an advisory lock;
/// here every count-then-record runs in one write transaction on the one
/// writer connection, so no two counts ever interleave.
#[derive(Component, Clone)]
#[shaku(interface = crate::di::AttemptLimiterPort)]
pub struct SqliteAttemptLimiter {
    shared: Arc<Shared>,
}

impl SqliteAttemptLimiter {
    /// Starts the purge of rows older than `retention` (the longest window);
    /// it ends when the last handle is dropped.
    #[must_use]
    pub fn start(db: Sqlite, retention: Duration) -> Self {
        let shared = Arc::new(Shared { db, refusals: Refusals::default() });
        start_purge(&shared, retention);
        Self { shared }
    }
}

/// When the `limit.max`-th newest attempt within the window leaves it, if
/// there are that many: the instant one more attempt becomes possible.
fn frees_at(
    conn: &mut SqliteConnection,
    kind: &str,
    client: &str,
    username: Option<&str>,
    limit: &RateLimit,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let Some(offset) = deciding_offset(limit.max) else {
        return Ok(Some(now + limit.window));
    };
    let mut query = auth_attempts::table
        .filter(auth_attempts::client.eq(client))
        .filter(auth_attempts::kind.eq(kind))
        .filter(auth_attempts::attempted_at.gt(Instant(now - limit.window)))
        .select(auth_attempts::attempted_at)
        .order(auth_attempts::attempted_at.desc())
        .offset(offset)
        .limit(1)
        .into_boxed();
    if let Some(username) = username {
        query = query.filter(auth_attempts::username.eq(username));
    }
    let blocking: Option<Instant> = query.first(conn).optional()?;
    Ok(blocking.map(|at| at.0 + limit.window))
}

fn record(
    conn: &mut SqliteConnection,
    kind: &str,
    client: &str,
    username: Option<&str>,
    now: DateTime<Utc>,
) -> QueryResult<AttemptId> {
    let id = Uuid::now_v7();
    diesel::insert_into(auth_attempts::table)
        .values((
            auth_attempts::id.eq(Id(id)),
            auth_attempts::kind.eq(kind),
            auth_attempts::client.eq(client),
            auth_attempts::username.eq(username),
            auth_attempts::attempted_at.eq(Instant(now)),
        ))
        .execute(conn)?;
    Ok(AttemptId(id))
}

#[async_trait]
impl AttemptLimiter for SqliteAttemptLimiter {
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
        let (username, limits) = (username.to_owned(), *limits);
        let counted = self
            .shared
            .db
            .write("counting login attempts", move |conn| {
                let address = frees_at(conn, LOGIN, &client, None, &limits.per_address, now)?;
                let name = frees_at(conn, LOGIN, &client, Some(&username), &limits.per_username, now)?;
                if address.is_some() || name.is_some() {
                    return Ok(Err(vec![(address_key, address), (username_key, name)]));
                }
                record(conn, LOGIN, &client, Some(&username), now).map(Ok)
            })
            .await?;
        Ok(self.shared.refusals.answer(counted, now))
    }

    async fn clear_logins(&self, username: &str, client: IpAddr) -> Result<(), PortError> {
        let (username, client) = (username.to_owned(), client_key(client));
        self.shared
            .db
            .write("clearing login attempts", move |conn| {
                diesel::delete(
                    auth_attempts::table
                        .filter(auth_attempts::client.eq(client))
                        .filter(auth_attempts::kind.eq(LOGIN))
                        .filter(auth_attempts::username.eq(username)),
                )
                .execute(conn)
            })
            .await?;
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
        let limit = *limit;
        let counted = self
            .shared
            .db
            .write("counting registrations", move |conn| {
                if let Some(until) = frees_at(conn, REGISTRATION, &client, None, &limit, now)? {
                    return Ok(Err(vec![(key, Some(until))]));
                }
                record(conn, REGISTRATION, &client, None, now).map(Ok)
            })
            .await?;
        Ok(self.shared.refusals.answer(counted, now))
    }

    async fn forget(&self, attempt: AttemptId) -> Result<(), PortError> {
        self.shared
            .db
            .write("forgetting an attempt", move |conn| {
                diesel::delete(auth_attempts::table.filter(auth_attempts::id.eq(Id(attempt.0)))).execute(conn)
            })
            .await?;
        Ok(())
    }
}
