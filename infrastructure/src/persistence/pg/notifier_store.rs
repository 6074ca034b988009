//! What the notifier reads from PostgreSQL: whom a user follows (once per
//! connection) and what they missed (once per reconnection with `since`).

use application::PortError;
use async_trait::async_trait;
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use domain::{Notification, Post, UserId};
use uuid::Uuid;

use super::notifications::{Listed, hydrate as hydrate_notifications, selection, with_actor_and_post};
use super::posts::{PostRow, to_posts};
use super::schema::{follows, notifications, post_details};
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
        let rows: Vec<PostRow> = post_details::table
            .filter(post_details::author_id.eq_any(followees))
            .filter(post_details::id.gt(since))
            .order(post_details::id.asc())
            .limit(max)
            .select(PostRow::as_select())
            .load(&mut conn)
            .await
            .map_err(failed("loading missed posts"))?;
        to_posts(rows)
    }

    async fn notifications_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Notification>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let rows: Vec<Listed> = with_actor_and_post()
            .filter(notifications::recipient_id.eq(user.as_uuid()))
            .filter(notifications::id.gt(since))
            .order(notifications::id.asc())
            .limit(max)
            .select(selection())
            .load(&mut conn)
            .await
            .map_err(failed("loading missed notifications"))?;
        hydrate_notifications(&mut conn, user, rows).await
    }
}
