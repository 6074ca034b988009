//! What the notifier reads from PostgreSQL: whom a user follows (once per
//! connection) and what they missed (once per reconnection with `since`).

use application::PortError;
use async_trait::async_trait;
use diesel::{ExpressionMethods, JoinOnDsl, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use domain::{Notification, Post, UserId};
use uuid::Uuid;

use super::notifications::{NotificationRow, hydrate as hydrate_notifications};
use super::posts::{PostRow, hydrate as hydrate_posts};
use super::schema::{follows, notifications, posts, users};
use super::users::UserRow;
use super::{PgPool, checkout, failed};
use crate::notifier::NotifierStore;

#[derive(Clone)]
pub struct PgNotifierStore {
    pool: PgPool,
}

impl PgNotifierStore {
    #[must_use]
    pub const fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl NotifierStore for PgNotifierStore {
    async fn followees(&self, user: UserId) -> Result<Vec<UserId>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let ids: Vec<Uuid> = follows::table
            .filter(follows::follower_id.eq(user.as_uuid()))
            .select(follows::followee_id)
            .load(&mut conn)
            .await
            .map_err(failed("loading followees"))?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }

    async fn posts_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Post>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let followees = follows::table.filter(follows::follower_id.eq(*user.as_uuid())).select(follows::followee_id);
        let rows: Vec<(PostRow, UserRow)> = posts::table
            .inner_join(users::table)
            .filter(posts::author_id.eq_any(followees))
            .filter(posts::id.gt(since))
            .order(posts::id.asc())
            .limit(max)
            .select((PostRow::as_select(), UserRow::as_select()))
            .load(&mut conn)
            .await
            .map_err(failed("loading missed posts"))?;
        hydrate_posts(&mut conn, rows).await
    }

    async fn notifications_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Notification>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let rows: Vec<(NotificationRow, UserRow)> = notifications::table
            .inner_join(users::table.on(users::id.eq(notifications::actor_id)))
            .filter(notifications::recipient_id.eq(user.as_uuid()))
            .filter(notifications::id.gt(since))
            .order(notifications::id.asc())
            .limit(max)
            .select((NotificationRow::as_select(), UserRow::as_select()))
            .load(&mut conn)
            .await
            .map_err(failed("loading missed notifications"))?;
        hydrate_notifications(&mut conn, user, rows).await
    }
}
