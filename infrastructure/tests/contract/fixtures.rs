//! The content ports of one backend, with the few direct reads and writes
//! their contracts need: users to post as (the content ports never create
//! them), and what a transaction left in the outbox and other tables.

use application::ports::{
    FollowRepository, NewFollow, NewPost, NewUser, NotificationRepository, PasswordHash, PostRepository, UserRepository,
};
use chrono::{DateTime, Utc};
use diesel::sql_types::BigInt;
use diesel::{ExpressionMethods, QueryDsl, QueryableByName};
use domain::{
    Author, DomainEvent, Envelope, Follow, Mention, Notification, NotificationKind, Post, PostContent, PostId, Role,
    UserId, Username,
};
use infrastructure::notifier::NotifierStore;
use infrastructure::persistence::outbox::Outbox;
use infrastructure::persistence::sqlite::types::{Id, Instant};
use infrastructure::persistence::sqlite::{
    SqliteFollowRepository, SqliteNotificationRepository, SqliteNotifierStore, SqlitePostRepository,
};
use infrastructure::persistence::{
    PgFollowRepository, PgNotificationRepository, PgNotifierStore, PgPostRepository, PgUserRepository,
};
use std::sync::Arc;
use uuid::Uuid;

use crate::support::{Backend, backends};

/// The content ports of one fresh database.
pub struct Content {
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub notifications: Arc<dyn NotificationRepository>,
    pub store: Arc<dyn NotifierStore>,
    pub backend: Backend,
}

/// The content ports of every backend this run can test.
pub async fn contents() -> Vec<Content> {
    backends()
        .await
        .into_iter()
        .map(|backend| {
            let outbox = Outbox::default();
            match &backend {
                Backend::Postgres(pool) => Content {
                    posts: Arc::new(PgPostRepository::new(pool.handle(), outbox.clone())),
                    follows: Arc::new(PgFollowRepository::new(pool.handle(), outbox)),
                    notifications: Arc::new(PgNotificationRepository::new(pool.handle())),
                    store: Arc::new(PgNotifierStore::new(pool.handle())),
                    backend,
                },
                Backend::Sqlite(db) => Content {
                    posts: Arc::new(SqlitePostRepository::new(db.clone(), outbox.clone())),
                    follows: Arc::new(SqliteFollowRepository::new(db.clone(), outbox)),
                    notifications: Arc::new(SqliteNotificationRepository::new(db.clone())),
                    store: Arc::new(SqliteNotifierStore::new(db.clone())),
                    backend,
                },
            }
        })
        .collect()
}

/// Runs each check on every backend (tests named after the checks, in a
/// module of their own), naming the backend if it fails.
macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        mod on_every_backend {
            $(
                #[tokio::test]
                async fn $check() {
                    for content in crate::fixtures::contents().await {
                        eprintln!("checking {} on {}", stringify!($check), content.backend.name());
                        super::$check(&content).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use on_every_backend;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Content {
    /// A new user named `name`.
    pub async fn user(&self, name: &str) -> Author {
        let id = UserId::generate();
        let username = Username::new(name).expect("a valid username");
        let now = Utc::now();
        match &self.backend {
            Backend::Postgres(pool) => {
                let user = NewUser {
                    id,
                    username: username.clone(),
                    email: None,
                    password_hash: PasswordHash::new("not a hash".to_owned()),
                    role: Role::User,
                    created_at: now,
                };
                PgUserRepository::new(pool.handle()).insert(user).await.expect("inserting a user");
            }
            Backend::Sqlite(db) => {
                use infrastructure::persistence::sqlite::schema::users;
                let name = name.to_owned();
                db.write("inserting a user", move |conn| {
                    diesel::RunQueryDsl::execute(
                        diesel::insert_into(users::table).values((
                            users::id.eq(Id(*id.as_uuid())),
                            users::username_key.eq(name.to_lowercase()),
                            users::username.eq(name),
                            users::password_hash.eq("not a hash"),
                            users::created_at.eq(Instant(now)),
                            users::updated_at.eq(Instant(now)),
                        )),
                        conn,
                    )
                })
                .await
                .expect("inserting a user");
            }
        }
        Author { id, username, display_name: None, avatar: None }
    }

    /// The number of rows in `table`.
    pub async fn count(&self, table: &'static str) -> i64 {
        let query = format!("SELECT count(*) AS n FROM {table}");
        let rows: Vec<Count> = match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = pool.get().await.expect("a connection");
                diesel_async::RunQueryDsl::load(diesel::sql_query(query), &mut conn).await.expect("counting")
            }
            Backend::Sqlite(db) => db
                .read("counting", move |conn| diesel::RunQueryDsl::load(diesel::sql_query(query), conn))
                .await
                .expect("counting"),
        };
        rows.first().map_or(0, |row| row.n)
    }

    /// The types of the events in the outbox, oldest first.
    pub async fn events(&self) -> Vec<String> {
        match &self.backend {
            Backend::Postgres(pool) => {
                use infrastructure::persistence::schema::outbox;
                let mut conn = pool.get().await.expect("a connection");
                diesel_async::RunQueryDsl::load(
                    outbox::table.select(outbox::event_type).order(outbox::id.asc()),
                    &mut conn,
                )
                .await
                .expect("reading the outbox")
            }
            Backend::Sqlite(db) => {
                use infrastructure::persistence::sqlite::schema::outbox;
                db.read("reading the outbox", |conn| {
                    diesel::RunQueryDsl::load(outbox::table.select(outbox::event_type).order(outbox::id.asc()), conn)
                })
                .await
                .expect("reading the outbox")
            }
        }
    }
}

/// A post by `author` at `at`, naming `mentioned`, with what the post use
/// case writes with it: a notification per mentioned user and the events.
pub fn new_post(author: &Author, text: &str, mentioned: &[&Author], at: DateTime<Utc>) -> NewPost {
    let post = Post {
        id: PostId::generate(),
        author: author.clone(),
        content: PostContent::parse(text).expect("valid content"),
        mentions: mentioned.iter().map(|m| Mention { user_id: m.id, username: m.username.clone() }).collect(),
        created_at: at,
    };
    let notifications: Vec<Notification> = mentioned
        .iter()
        .map(|m| Notification {
            id: Uuid::now_v7(),
            recipient: m.id,
            actor: author.clone(),
            kind: NotificationKind::Mention(Box::new(post.clone())),
            created_at: at,
            read: false,
        })
        .collect();
    let mut events = vec![Envelope::new(DomainEvent::PostCreated(post.clone()), at)];
    events.extend(notifications.iter().map(|n| Envelope::new(DomainEvent::NotificationCreated(n.clone()), at)));
    NewPost { post, notifications, events }
}

/// `follower` following `followee` now, notifying the followee.
pub fn new_follow(follower: &Author, followee: &Author) -> NewFollow {
    let now = Utc::now();
    let follow = Follow::new(follower.id, followee.id).expect("two users");
    // The event first, as the use case makes them: outbox rows sort by id.
    let created = Envelope::new(DomainEvent::FollowCreated(follow), now);
    let notification = Notification {
        id: Uuid::now_v7(),
        recipient: followee.id,
        actor: follower.clone(),
        kind: NotificationKind::Follow,
        created_at: now,
        read: false,
    };
    let events = vec![created, Envelope::new(DomainEvent::NotificationCreated(notification.clone()), now)];
    NewFollow { follow, created_at: now, notification: Some(notification), events }
}
