//! What the account suites share: making users, and writing or counting the
//! rows the account ports do not write themselves (follows, posts) or do not
//! show (what a delete cascaded to, which events were written), in each
//! backend's own SQL.

use application::ports::{NewUser, PasswordHash};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Binary, Text, Uuid as SqlUuid};
use domain::{Email, Role, UserId, Username};
use uuid::Uuid;

use crate::support::Backend;

/// `at` as both backends store it (microseconds), so that values read back compare equal.
pub fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).expect("an instant in range")
}

pub fn new_user(username: &str, email: Option<&str>) -> NewUser {
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        username: Username::new(username).expect("a valid username"),
        email: email.map(|e| Email::new(e).expect("a valid e-mail")),
        password_hash: PasswordHash::new(format!("hash-of-{username}")),
        role: Role::User,
        created_at: micros(Utc::now()),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs one statement binding `ids` in order (`$1`, `$2`… on PostgreSQL,
/// where `?` on SQLite), and returns its `n` column if `counting`.
async fn run(backend: &Backend, pg: &str, sqlite: &str, ids: &[Uuid], counting: bool) -> i64 {
    match backend {
        Backend::Postgres(pool) => {
            let mut conn = pool.get().await.expect("a PostgreSQL connection");
            let mut query = diesel::sql_query(pg).into_boxed::<diesel::pg::Pg>();
            for id in ids {
                query = query.bind::<SqlUuid, _>(*id);
            }
            if counting {
                let found: Count =
                    diesel_async::RunQueryDsl::get_result(query, &mut conn).await.expect("counting rows");
                found.n
            } else {
                diesel_async::RunQueryDsl::execute(query, &mut conn).await.expect("writing rows");
                0
            }
        }
        Backend::Sqlite(db) => {
            let (sql, ids) = (sqlite.to_owned(), ids.to_vec());
            let task = move |conn: &mut diesel::SqliteConnection| {
                let mut query = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
                for id in ids {
                    query = query.bind::<Binary, _>(id.as_bytes().to_vec());
                }
                if counting {
                    diesel::RunQueryDsl::get_result::<Count>(query, conn).map(|c| c.n)
                } else {
                    diesel::RunQueryDsl::execute(query, conn).map(|_| 0)
                }
            };
            if counting { db.read("counting rows", task).await } else { db.write("writing rows", task).await }
                .expect("a SQLite statement")
        }
    }
}

pub async fn follow(backend: &Backend, follower: UserId, followee: UserId) {
    let ids = [Uuid::now_v7(), *follower.as_uuid(), *followee.as_uuid()];
    run(
        backend,
        "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES ($1, $2, $3, now())",
        "INSERT INTO follows (id, follower_id, followee_id, created_at)
         VALUES (?, ?, ?, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))",
        &ids,
        false,
    )
    .await;
}

pub async fn post(backend: &Backend, author: UserId) {
    let ids = [Uuid::now_v7(), *author.as_uuid()];
    run(
        backend,
        "INSERT INTO posts (id, author_id, content, created_at) VALUES ($1, $2, 'hello', now())",
        "INSERT INTO posts (id, author_id, content, created_at)
         VALUES (?, ?, 'hello', CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))",
        &ids,
        false,
    )
    .await;
}

/// Rows of `table` whose `column` is `id`.
pub async fn rows(backend: &Backend, table: &str, column: &str, id: Uuid) -> i64 {
    run(
        backend,
        &format!("SELECT count(*) AS n FROM {table} WHERE {column} = $1"),
        &format!("SELECT count(*) AS n FROM {table} WHERE {column} = ?"),
        &[id],
        true,
    )
    .await
}

/// Outbox events of type `event_type`.
pub async fn events(backend: &Backend, event_type: &str) -> i64 {
    let sql = "SELECT count(*) AS n FROM outbox WHERE event_type = ";
    match backend {
        Backend::Postgres(pool) => {
            let mut conn = pool.get().await.expect("a PostgreSQL connection");
            let query = diesel::sql_query(format!("{sql}$1")).bind::<Text, _>(event_type.to_owned());
            let found: Count = diesel_async::RunQueryDsl::get_result(query, &mut conn).await.expect("counting events");
            found.n
        }
        Backend::Sqlite(db) => {
            let query = diesel::sql_query(format!("{sql}?")).bind::<Text, _>(event_type.to_owned());
            db.read("counting events", move |conn| diesel::RunQueryDsl::get_result::<Count>(query, conn))
                .await
                .expect("counting events")
                .n
        }
    }
}
