//! What the harness writes straight into the database before it measures,
//! described once ([`Seed`]), and the two ways of writing it: into PostgreSQL
//! (served) or into the SQLite file of a running `social` (embedded), each in
//! one transaction, with the columns of that family's schema.

use anyhow::Context;
use chrono::{DateTime, Utc};
use std::path::Path;
use uuid::Uuid;

pub struct User {
    pub id: Uuid,
    pub username: String,
}

/// `follower` follows `followee` (indexes into [`Seed::users`]).
pub struct Follow {
    pub id: Uuid,
    pub follower: usize,
    pub followee: usize,
}

pub struct Post {
    pub id: Uuid,
    /// An index into [`Seed::users`].
    pub author: usize,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// Users (password hash `x`: they never log in, the harness signs their
/// tokens), who follows whom, and posts.
pub struct Seed {
    pub users: Vec<User>,
    pub follows: Vec<Follow>,
    pub posts: Vec<Post>,
    /// When the users and follows were made.
    pub at: DateTime<Utc>,
}

/// Rows per multi-row `INSERT` into SQLite (4 or 5 binds each: far below its
/// limit on bound parameters).
const SQLITE_CHUNK: usize = 500;

impl Seed {
    /// One author (`bench_author`, the first user) and `followers` users
    /// (`bench_f1`, ...) following them.
    pub fn fan_out(followers: usize) -> Self {
        let mut users = vec![User { id: Uuid::now_v7(), username: "bench_author".into() }];
        users.extend((1..=followers).map(|n| User { id: Uuid::now_v7(), username: format!("bench_f{n}") }));
        let follows = (1..=followers).map(|n| Follow { id: Uuid::now_v7(), follower: n, followee: 0 }).collect();
        Self { users, follows, posts: Vec::new(), at: Utc::now() }
    }

    /// `users` users (`bench_u1`, ...), each following the next `follows` of
    /// them (in a ring), and `posts` posts per user: post `g` (from 1) is by
    /// user `g mod users`, made 30 days ago plus `g` seconds, its id a UUIDv7
    /// of that instant (ids in time order, as the api makes them).
    pub fn network(users: usize, follows: usize, posts: usize) -> anyhow::Result<Self> {
        let at = Utc::now();
        let people: Vec<User> =
            (1..=users).map(|n| User { id: Uuid::now_v7(), username: format!("bench_u{n}") }).collect();
        let follows = (0..users)
            .flat_map(|a| (1..=follows.min(users.saturating_sub(1))).map(move |k| (a, (a + k) % users)))
            .map(|(follower, followee)| Follow { id: Uuid::now_v7(), follower, followee })
            .collect();
        let start = at - chrono::Duration::days(30);
        let posts = (1..=users * posts)
            .map(|g| {
                let created_at = start + chrono::Duration::seconds(i64::try_from(g)?);
                let (seconds, nanos) = (u64::try_from(created_at.timestamp())?, created_at.timestamp_subsec_nanos());
                let id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos));
                anyhow::Ok(Post { id, author: g % users, content: format!("bench post {g} about things"), created_at })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { users: people, follows, posts, at })
    }

    pub fn user_ids(&self) -> Vec<String> {
        self.users.iter().map(|u| u.id.to_string()).collect()
    }

    pub fn post_ids(&self) -> Vec<String> {
        self.posts.iter().map(|p| p.id.to_string()).collect()
    }

    /// Writes the rows into the PostgreSQL database at `database_url` (the
    /// served schema: the other columns keep their defaults).
    pub async fn write_postgres(&self, database_url: &str) -> anyhow::Result<()> {
        let (mut client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let transaction = client.transaction().await?;
        let at = self.at.timestamp_micros();
        let id = |n: usize| self.users[n].id.to_string();
        let names: Vec<&str> = self.users.iter().map(|u| u.username.as_str()).collect();
        transaction
            .execute(
                "INSERT INTO users (id, username, password_hash, created_at)
                 SELECT id::uuid, username, 'x', timestamptz 'epoch' + $3::bigint * interval '1 microsecond'
                 FROM unnest($1::text[], $2::text[]) AS u (id, username)",
                &[&self.user_ids(), &names, &at],
            )
            .await?;
        let follow_ids: Vec<String> = self.follows.iter().map(|f| f.id.to_string()).collect();
        let followers: Vec<String> = self.follows.iter().map(|f| id(f.follower)).collect();
        let followees: Vec<String> = self.follows.iter().map(|f| id(f.followee)).collect();
        transaction
            .execute(
                "INSERT INTO follows (id, follower_id, followee_id, created_at)
                 SELECT id::uuid, follower::uuid, followee::uuid, timestamptz 'epoch' + $4::bigint * interval '1 microsecond'
                 FROM unnest($1::text[], $2::text[], $3::text[]) AS f (id, follower, followee)",
                &[&follow_ids, &followers, &followees, &at],
            )
            .await?;
        if !self.posts.is_empty() {
            let authors: Vec<String> = self.posts.iter().map(|p| id(p.author)).collect();
            let contents: Vec<&str> = self.posts.iter().map(|p| p.content.as_str()).collect();
            let instants: Vec<i64> = self.posts.iter().map(|p| p.created_at.timestamp_micros()).collect();
            transaction
                .execute(
                    "INSERT INTO posts (id, author_id, content, created_at)
                     SELECT id::uuid, author::uuid, content, timestamptz 'epoch' + at * interval '1 microsecond'
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS p (id, author, content, at)",
                    &[&self.post_ids(), &authors, &contents, &instants],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Writes the rows into the SQLite file at `path`, which `social` has
    /// created and migrated and keeps open: WAL mode lets this second
    /// connection write; it waits for `social`'s writer rather than failing.
    /// Columns as in `migrations/sqlite`: ids as their 16 bytes, instants in
    /// microseconds, `username_key` the lower-cased username.
    pub fn write_sqlite(&self, path: &Path) -> anyhow::Result<()> {
        use diesel::connection::SimpleConnection;
        use diesel::sql_types::{BigInt, Binary, Text};
        use diesel::sqlite::Sqlite;
        use diesel::{Connection, RunQueryDsl, SqliteConnection, sql_query};

        let url = path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))?;
        let mut conn = SqliteConnection::establish(url).with_context(|| format!("opening {url}"))?;
        conn.batch_execute("PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;")?;
        let at = self.at.timestamp_micros();
        let id = |n: usize| self.users[n].id.as_bytes().to_vec();
        let values = |row: &str, count: usize| vec![row; count].join(", ");
        conn.immediate_transaction(|conn| {
            for chunk in self.users.chunks(SQLITE_CHUNK) {
                let sql = format!(
                    "INSERT INTO users (id, username, username_key, password_hash, role, created_at, updated_at) VALUES {}",
                    values("(?, ?, ?, 'x', 'user', ?, ?)", chunk.len())
                );
                let mut query = sql_query(sql).into_boxed::<Sqlite>();
                for user in chunk {
                    query = query
                        .bind::<Binary, _>(user.id.as_bytes().to_vec())
                        .bind::<Text, _>(user.username.clone())
                        .bind::<Text, _>(user.username.to_lowercase())
                        .bind::<BigInt, _>(at)
                        .bind::<BigInt, _>(at);
                }
                query.execute(conn)?;
            }
            for chunk in self.follows.chunks(SQLITE_CHUNK) {
                let sql = format!(
                    "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES {}",
                    values("(?, ?, ?, ?)", chunk.len())
                );
                let mut query = sql_query(sql).into_boxed::<Sqlite>();
                for follow in chunk {
                    query = query
                        .bind::<Binary, _>(follow.id.as_bytes().to_vec())
                        .bind::<Binary, _>(id(follow.follower))
                        .bind::<Binary, _>(id(follow.followee))
                        .bind::<BigInt, _>(at);
                }
                query.execute(conn)?;
            }
            // In time order: `seq` (the full-text index's key) follows `id`, as in use.
            for chunk in self.posts.chunks(SQLITE_CHUNK) {
                let sql = format!(
                    "INSERT INTO posts (id, author_id, content, created_at) VALUES {}",
                    values("(?, ?, ?, ?)", chunk.len())
                );
                let mut query = sql_query(sql).into_boxed::<Sqlite>();
                for post in chunk {
                    query = query
                        .bind::<Binary, _>(post.id.as_bytes().to_vec())
                        .bind::<Binary, _>(id(post.author))
                        .bind::<Text, _>(post.content.clone())
                        .bind::<BigInt, _>(post.created_at.timestamp_micros());
                }
                query.execute(conn)?;
            }
            anyhow::Ok(())
        })
    }
}
