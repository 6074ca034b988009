//! `NotificationRepository` on PostgreSQL.

use application::PortError;
use application::paging::{Page, PageRequest};
use application::ports::NotificationRepository;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::sql_types::Uuid as SqlUuid;
use diesel::{
    ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{Notification, UserId};
use shaku::Component;
use uuid::Uuid;

use super::posts::{PostRow, to_posts};
use super::schema::{notification_markers, notifications, post_details, users};
use super::users::{UserRow, to_user};
use super::{PgPool, checkout, failed};
use crate::persistence::count;
use crate::persistence::rows::{StoredNotification, assemble_notifications};
use crate::persistence::users::author_of;

#[derive(Component)]
#[shaku(interface = crate::di::NotificationRepositoryPort)]
pub struct PgNotificationRepository {
    pool: PgPool,
}

impl PgNotificationRepository {
    #[must_use]
    pub const fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = notifications, check_for_backend(diesel::pg::Pg))]
pub(super) struct NotificationRow {
    id: Uuid,
    recipient_id: Uuid,
    kind: String,
    post_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

/// Everything at or below the marker is read; no marker means nothing is.
async fn read_marker(conn: &mut AsyncPgConnection, user: UserId) -> Result<Uuid, PortError> {
    let marker = notification_markers::table
        .find(user.as_uuid())
        .select(notification_markers::read_up_to)
        .first(conn)
        .await
        .optional()
        .map_err(failed("reading the read marker"))?;
    Ok(marker.unwrap_or(Uuid::nil()))
}

/// Notifications joined to their actor and, for a mention, the post (one statement).
#[allow(clippy::type_complexity)]
pub(super) fn with_actor_and_post() -> diesel::dsl::LeftJoin<
    diesel::dsl::InnerJoinOn<notifications::table, users::table, diesel::dsl::Eq<users::id, notifications::actor_id>>,
    diesel::dsl::On<
        post_details::table,
        diesel::dsl::Eq<diesel::dsl::Nullable<post_details::id>, notifications::post_id>,
    >,
> {
    notifications::table
        .inner_join(users::table.on(users::id.eq(notifications::actor_id)))
        .left_join(post_details::table.on(post_details::id.nullable().eq(notifications::post_id)))
}

/// A notification with its actor and, for a mention, its post.
pub(super) type Listed = (NotificationRow, UserRow, Option<PostRow>);

/// What a notification list selects: [`Listed`], newest or oldest first as the caller orders.
pub(super) type Selection = (
    diesel::dsl::AsSelect<NotificationRow, diesel::pg::Pg>,
    diesel::dsl::AsSelect<UserRow, diesel::pg::Pg>,
    diesel::dsl::AsSelect<Option<PostRow>, diesel::pg::Pg>,
);

/// The selection of [`Listed`] rows.
pub(super) fn selection() -> Selection {
    (NotificationRow::as_select(), UserRow::as_select(), Option::<PostRow>::as_select())
}

/// Turns listed rows into notifications with their read flags; one more query
/// (the read marker) whatever the number of rows.
pub(super) async fn hydrate(
    conn: &mut AsyncPgConnection,
    recipient: UserId,
    rows: Vec<Listed>,
) -> Result<Vec<Notification>, PortError> {
    let marker = read_marker(conn, recipient).await?;
    let mut posts = Vec::new();
    let rows: Vec<(NotificationRow, UserRow)> = rows
        .into_iter()
        .map(|(notification, actor, post)| {
            posts.extend(post);
            (notification, actor)
        })
        .collect();
    let posts = to_posts(posts)?;
    let rows = rows
        .into_iter()
        .map(|(row, actor)| {
            let row = StoredNotification {
                id: row.id,
                recipient_id: row.recipient_id,
                kind: row.kind,
                post_id: row.post_id,
                created_at: row.created_at,
            };
            Ok((row, author_of(&to_user(actor)?)))
        })
        .collect::<Result<_, PortError>>()?;
    assemble_notifications(rows, &posts, marker)
}

#[async_trait]
impl NotificationRepository for PgNotificationRepository {
    async fn list(&self, recipient: UserId, page: PageRequest) -> Result<Page<Notification>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let mut query = with_actor_and_post().filter(notifications::recipient_id.eq(recipient.as_uuid())).into_boxed();
        if let Some(before) = page.before {
            query = query.filter(notifications::id.lt(before));
        }
        if let Some(since) = page.since {
            query = query.filter(notifications::id.gt(since));
        }
        let rows: Vec<Listed> = query
            .order(notifications::id.desc())
            .limit(i64::from(page.limit) + 1)
            .select(selection())
            .load(&mut conn)
            .await
            .map_err(failed("listing notifications"))?;
        let list = hydrate(&mut conn, recipient, rows).await?;
        Ok(Page::from_rows(list, page.limit, |n| n.id))
    }

    async fn unread_count(&self, recipient: UserId) -> Result<u64, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let marker = read_marker(&mut conn, recipient).await?;
        let unread: i64 = notifications::table
            .filter(notifications::recipient_id.eq(recipient.as_uuid()))
            .filter(notifications::id.gt(marker))
            .count()
            .get_result(&mut conn)
            .await
            .map_err(failed("counting unread notifications"))?;
        Ok(count(unread))
    }

    async fn mark_read(&self, recipient: UserId, up_to: Uuid) -> Result<(), PortError> {
        let mut conn = checkout(&self.pool).await?;
        diesel::insert_into(notification_markers::table)
            .values((notification_markers::user_id.eq(recipient.as_uuid()), notification_markers::read_up_to.eq(up_to)))
            .on_conflict(notification_markers::user_id)
            .do_update()
            // The marker only moves forward: a late, older request cannot unread anything.
            .set(
                notification_markers::read_up_to
                    .eq(sql::<SqlUuid>("GREATEST(notification_markers.read_up_to, excluded.read_up_to)")),
            )
            .execute(&mut conn)
            .await
            .map_err(failed("moving the read marker"))?;
        Ok(())
    }
}
