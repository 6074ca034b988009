//! What the notifier reads from SQLite: whom a user follows (once per
//! connection) and what they missed (once per reconnection with `since`).

use application::PortError;
use async_trait::async_trait;
use diesel::{ExpressionMethods, JoinOnDsl, QueryDsl, RunQueryDsl, SelectableHelper};
use domain::{Notification, Post, UserId};
use uuid::Uuid;

use super::Sqlite;
use super::notifications::{notification_rows, with_posts};
use super::posts::{PostRow, with_mentions};
use super::schema::{follows, notifications, posts, users};
use super::types::Id;
use super::users::UserRow;
use crate::notifier::NotifierStore;

#[derive(Clone)]
pub struct SqliteNotifierStore {
    db: Sqlite,
}

impl SqliteNotifierStore {
    #[must_use]
    pub const fn new(db: Sqlite) -> Self {
        Self { db }
    }
}

#[async_trait]
impl NotifierStore for SqliteNotifierStore {
    async fn followees(&self, user: UserId) -> Result<Vec<UserId>, PortError> {
        let ids: Vec<Id> = self
            .db
            .read("loading followees", move |conn| {
                follows::table
                    .filter(follows::follower_id.eq(Id(*user.as_uuid())))
                    .select(follows::followee_id)
                    .load(conn)
            })
            .await?;
        Ok(ids.into_iter().map(|id| UserId::from_uuid(id.0)).collect())
    }

    async fn posts_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Post>, PortError> {
        let loaded = self
            .db
            .read("loading missed posts", move |conn| {
                let followees =
                    follows::table.filter(follows::follower_id.eq(Id(*user.as_uuid()))).select(follows::followee_id);
                let rows = posts::table
                    .inner_join(users::table.on(users::id.eq(posts::author_id)))
                    .filter(posts::author_id.eq_any(followees))
                    .filter(posts::id.gt(Id(since)))
                    .order(posts::id.asc())
                    .limit(max)
                    .select((PostRow::as_select(), UserRow::as_select()))
                    .load(conn)?;
                with_mentions(conn, rows)
            })
            .await?;
        loaded.into_posts()
    }

    async fn notifications_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Notification>, PortError> {
        let loaded = self
            .db
            .read("loading missed notifications", move |conn| {
                let rows = notifications::table
                    .inner_join(users::table.on(users::id.eq(notifications::actor_id)))
                    .filter(notifications::recipient_id.eq(Id(*user.as_uuid())))
                    .filter(notifications::id.gt(Id(since)))
                    .order(notifications::id.asc())
                    .limit(max)
                    .select(notification_rows())
                    .load(conn)?;
                with_posts(conn, user, rows)
            })
            .await?;
        loaded.into_notifications()
    }
}
