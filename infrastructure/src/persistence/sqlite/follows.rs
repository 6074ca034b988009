//! `FollowRepository` on SQLite.

use application::PortError;
use application::paging::{Page, PageRequest};
use application::ports::{FollowEntry, FollowRepository, NewFollow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use domain::{Envelope, Follow, NotificationKind, UserId};
use shaku::Component;
use uuid::Uuid;

use super::Sqlite;
use super::outbox::append;
use super::posts::insert_notifications;
use super::schema::{follows, notifications};
use super::types::{Id, Instant};
use super::users::load_profiles;
use crate::persistence::first_id_at;
use crate::persistence::follows::follow_page;
use crate::persistence::outbox::Outbox;
use crate::persistence::users::profiles_in_order;

#[derive(Component)]
#[shaku(interface = crate::di::FollowRepositoryPort)]
pub struct SqliteFollowRepository {
    db: Sqlite,
    outbox: Outbox,
}

#[derive(Clone, Copy)]
enum Side {
    Followers,
    Following,
}

impl SqliteFollowRepository {
    #[must_use]
    pub const fn new(db: Sqlite, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// One page of (follow id, user id) pairs and their profiles, read in one
    /// snapshot.
    async fn page(
        &self,
        side: Side,
        user: UserId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<FollowEntry>, PortError> {
        let (pairs, ids, profiles) = self
            .db
            .read("listing follows", move |conn| {
                let user = Id(*user.as_uuid());
                let mut query = follows::table.into_boxed();
                query = match side {
                    Side::Followers => query.filter(follows::followee_id.eq(user)),
                    Side::Following => query.filter(follows::follower_id.eq(user)),
                };
                if let Some(before) = page.before {
                    query = query.filter(follows::id.lt(Id(before)));
                }
                if let Some(since) = page.since {
                    query = query.filter(follows::id.gt(Id(since)));
                }
                let pairs: Vec<(Id, Id)> = match side {
                    Side::Followers => query.select((follows::id, follows::follower_id)),
                    Side::Following => query.select((follows::id, follows::followee_id)),
                }
                .order(follows::id.desc())
                .limit(i64::from(page.limit) + 1)
                .load(conn)?;
                let ids: Vec<Uuid> = pairs.iter().map(|(_, user)| user.0).collect();
                let profiles = load_profiles(conn, &ids, viewer)?;
                Ok((pairs, ids, profiles))
            })
            .await?;
        let profiles = profiles_in_order(profiles, &ids)?;
        let pairs = pairs.into_iter().map(|(follow_id, user)| (follow_id.0, user.0)).collect();
        Ok(follow_page(pairs, &profiles, page.limit))
    }
}

#[async_trait]
impl FollowRepository for SqliteFollowRepository {
    #[tracing::instrument(skip_all, fields(follower = %new.follow.follower(), followee = %new.follow.followee()))]
    async fn follow(&self, new: NewFollow) -> Result<bool, PortError> {
        let outbox = self.outbox.clone();
        let created = self
            .db
            .write("following", move |conn| {
                let inserted = diesel::insert_into(follows::table)
                    .values((
                        follows::id.eq(Id(Uuid::now_v7())),
                        follows::follower_id.eq(Id(*new.follow.follower().as_uuid())),
                        follows::followee_id.eq(Id(*new.follow.followee().as_uuid())),
                        follows::created_at.eq(Instant(new.created_at)),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn);
                let inserted = match inserted {
                    Ok(inserted) => inserted,
                    // The followee was deleted between the use case's check and
                    // this write; only the failed statement is undone.
                    Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => 0,
                    Err(e) => return Err(e),
                };
                if inserted > 0 {
                    insert_notifications(conn, new.notification.as_slice())?;
                    append(&outbox, conn, &new.events)?;
                }
                Ok(inserted > 0)
            })
            .await?;
        if created {
            self.outbox.committed();
        }
        Ok(created)
    }

    async fn follow_notified_since(&self, follow: Follow, since: DateTime<Utc>) -> Result<bool, PortError> {
        self.db
            .read("looking for a recent follow notification", move |conn| {
                // The recipient's index range from `since` on, then a filter: a few rows.
                diesel::select(diesel::dsl::exists(
                    notifications::table
                        .filter(notifications::recipient_id.eq(Id(*follow.followee().as_uuid())))
                        .filter(notifications::id.ge(Id(first_id_at(since))))
                        .filter(notifications::actor_id.eq(Id(*follow.follower().as_uuid())))
                        .filter(notifications::kind.eq(NotificationKind::Follow.as_str())),
                ))
                .get_result(conn)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(follower = %follow.follower(), followee = %follow.followee()))]
    async fn unfollow(&self, follow: Follow, event: Envelope) -> Result<bool, PortError> {
        let outbox = self.outbox.clone();
        let deleted = self
            .db
            .write("unfollowing", move |conn| {
                let deleted = diesel::delete(
                    follows::table
                        .filter(follows::follower_id.eq(Id(*follow.follower().as_uuid())))
                        .filter(follows::followee_id.eq(Id(*follow.followee().as_uuid()))),
                )
                .execute(conn)?;
                if deleted > 0 {
                    append(&outbox, conn, std::slice::from_ref(&event))?;
                }
                Ok(deleted > 0)
            })
            .await?;
        if deleted {
            self.outbox.committed();
        }
        Ok(deleted)
    }

    async fn followers(&self, user: UserId, viewer: UserId, page: PageRequest) -> Result<Page<FollowEntry>, PortError> {
        self.page(Side::Followers, user, viewer, page).await
    }

    async fn following(&self, user: UserId, viewer: UserId, page: PageRequest) -> Result<Page<FollowEntry>, PortError> {
        self.page(Side::Following, user, viewer, page).await
    }
}
