//! `FollowRepository` on PostgreSQL.

use application::PortError;
use application::paging::{Page, PageRequest};
use application::ports::{FollowEntry, FollowRepository, NewFollow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::{Envelope, Follow, NotificationKind, UserId};
use shaku::Component;
use uuid::Uuid;

use super::outbox::Outbox;
use super::posts::insert_notifications;
use super::schema::{follows, notifications};
use super::users::load_profiles;
use super::{PgPool, checkout, failed, first_id_at};
use crate::persistence::follows::follow_page;

#[derive(Component)]
#[shaku(interface = crate::di::FollowRepositoryPort)]
pub struct PgFollowRepository {
    pool: PgPool,
    outbox: Outbox,
}

impl PgFollowRepository {
    #[must_use]
    pub const fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }

    /// One page of (follow id, user id) pairs, then their profiles in one query.
    async fn page(
        &self,
        side: Side,
        user: UserId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<FollowEntry>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let mut query = follows::table.into_boxed();
        query = match side {
            Side::Followers => query.filter(follows::followee_id.eq(*user.as_uuid())),
            Side::Following => query.filter(follows::follower_id.eq(*user.as_uuid())),
        };
        if let Some(before) = page.before {
            query = query.filter(follows::id.lt(before));
        }
        if let Some(since) = page.since {
            query = query.filter(follows::id.gt(since));
        }
        let pairs: Vec<(Uuid, Uuid)> = match side {
            Side::Followers => query.select((follows::id, follows::follower_id)),
            Side::Following => query.select((follows::id, follows::followee_id)),
        }
        .order(follows::id.desc())
        .limit(i64::from(page.limit) + 1)
        .load(&mut conn)
        .await
        .map_err(failed("listing follows"))?;
        drop(conn);
        let ids: Vec<Uuid> = pairs.iter().map(|(_, user)| *user).collect();
        let profiles = load_profiles(&self.pool, &ids, viewer).await?;
        Ok(follow_page(pairs, &profiles, page.limit))
    }
}

#[derive(Clone, Copy)]
enum Side {
    Followers,
    Following,
}

#[async_trait]
impl FollowRepository for PgFollowRepository {
    #[tracing::instrument(skip_all, fields(follower = %new.follow.follower(), followee = %new.follow.followee()))]
    async fn follow(&self, new: NewFollow) -> Result<bool, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let created = conn
            .transaction(async |conn| {
                let inserted = diesel::insert_into(follows::table)
                    .values((
                        follows::id.eq(Uuid::now_v7()),
                        follows::follower_id.eq(new.follow.follower().as_uuid()),
                        follows::followee_id.eq(new.follow.followee().as_uuid()),
                        follows::created_at.eq(new.created_at),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if inserted > 0 {
                    insert_notifications(conn, new.notification.as_slice()).await?;
                    self.outbox.append(conn, &new.events).await?;
                }
                Ok(inserted > 0)
            })
            .await;
        match created {
            Ok(created) => {
                if created {
                    self.outbox.committed();
                }
                Ok(created)
            }
            // The followee was deleted between the use case's check and this write.
            Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => Ok(false),
            Err(e) => Err(failed("following")(e)),
        }
    }

    async fn follow_notified_since(&self, follow: Follow, since: DateTime<Utc>) -> Result<bool, PortError> {
        let mut conn = checkout(&self.pool).await?;
        // The recipient's index range from `since` on, then a filter: a few rows.
        diesel::select(diesel::dsl::exists(
            notifications::table
                .filter(notifications::recipient_id.eq(follow.followee().as_uuid()))
                .filter(notifications::id.ge(first_id_at(since)))
                .filter(notifications::actor_id.eq(follow.follower().as_uuid()))
                .filter(notifications::kind.eq(NotificationKind::Follow.as_str())),
        ))
        .get_result(&mut conn)
        .await
        .map_err(failed("looking for a recent follow notification"))
    }

    #[tracing::instrument(skip_all, fields(follower = %follow.follower(), followee = %follow.followee()))]
    async fn unfollow(&self, follow: Follow, event: Envelope) -> Result<bool, PortError> {
        let mut conn = checkout(&self.pool).await?;
        conn.transaction(async move |conn| {
            let deleted = diesel::delete(
                follows::table
                    .filter(follows::follower_id.eq(follow.follower().as_uuid()))
                    .filter(follows::followee_id.eq(follow.followee().as_uuid())),
            )
            .execute(conn)
            .await?;
            if deleted > 0 {
                self.outbox.append(conn, std::slice::from_ref(&event)).await?;
            }
            Ok(deleted > 0)
        })
        .await
        .map_err(failed("unfollowing"))
        .inspect(|&deleted| {
            if deleted {
                self.outbox.committed()
            }
        })
    }

    async fn followers(&self, user: UserId, viewer: UserId, page: PageRequest) -> Result<Page<FollowEntry>, PortError> {
        self.page(Side::Followers, user, viewer, page).await
    }

    async fn following(&self, user: UserId, viewer: UserId, page: PageRequest) -> Result<Page<FollowEntry>, PortError> {
        self.page(Side::Following, user, viewer, page).await
    }
}
