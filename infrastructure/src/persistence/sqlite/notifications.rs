//! `NotificationRepository` on SQLite.

use application::PortError;
use application::paging::{Page, PageRequest};
use application::ports::NotificationRepository;
use async_trait::async_trait;
use diesel::dsl::sql;
use diesel::sql_types::Binary;
use diesel::{
    ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl, QueryResult, Queryable, RunQueryDsl, Selectable,
    SelectableHelper, SqliteConnection,
};
use domain::{Notification, UserId};
use shaku::Component;
use uuid::Uuid;

use super::Sqlite;
use super::posts::{LoadedPosts, posts_by_id};
use super::schema::{notification_markers, notifications, users};
use super::types::{Id, Instant};
use super::users::{UserRow, to_user};
use crate::persistence::count;
use crate::persistence::rows::{StoredNotification, assemble_notifications};
use crate::persistence::users::author_of;

#[derive(Component)]
#[shaku(interface = crate::di::NotificationRepositoryPort)]
pub struct SqliteNotificationRepository {
    db: Sqlite,
}

impl SqliteNotificationRepository {
    #[must_use]
    pub const fn new(db: Sqlite) -> Self {
        Self { db }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = notifications, check_for_backend(diesel::sqlite::Sqlite))]
pub(super) struct NotificationRow {
    id: Id,
    recipient_id: Id,
    kind: String,
    post_id: Option<Id>,
    created_at: Instant,
}

/// (notification, actor) rows, selected.
pub(super) fn notification_rows() -> (
    diesel::dsl::AsSelect<NotificationRow, diesel::sqlite::Sqlite>,
    diesel::dsl::AsSelect<UserRow, diesel::sqlite::Sqlite>,
) {
    (NotificationRow::as_select(), UserRow::as_select())
}

/// Notifications as read on a connection, with their posts and the read
/// marker; turned into domain values once the connection is released.
pub(super) struct LoadedNotifications {
    marker: Id,
    rows: Vec<(NotificationRow, UserRow)>,
    posts: LoadedPosts,
}

/// Everything at or below the marker is read; no marker means nothing is.
fn read_marker(conn: &mut SqliteConnection, user: Id) -> QueryResult<Id> {
    let marker =
        notification_markers::table.find(user).select(notification_markers::read_up_to).first(conn).optional()?;
    Ok(marker.unwrap_or(Id(Uuid::nil())))
}

/// Adds the posts and the read marker of `recipient` to `rows`; two queries
/// whatever the number of rows.
pub(super) fn with_posts(
    conn: &mut SqliteConnection,
    recipient: UserId,
    rows: Vec<(NotificationRow, UserRow)>,
) -> QueryResult<LoadedNotifications> {
    let marker = read_marker(conn, Id(*recipient.as_uuid()))?;
    let post_ids: Vec<Id> = rows.iter().filter_map(|(n, _)| n.post_id).collect();
    let posts = posts_by_id(conn, &post_ids)?;
    Ok(LoadedNotifications { marker, rows, posts })
}

impl LoadedNotifications {
    pub(super) fn into_notifications(self) -> Result<Vec<Notification>, PortError> {
        let posts = self.posts.into_posts()?;
        let rows = self
            .rows
            .into_iter()
            .map(|(row, actor)| {
                let row = StoredNotification {
                    id: row.id.0,
                    recipient_id: row.recipient_id.0,
                    kind: row.kind,
                    post_id: row.post_id.map(|id| id.0),
                    created_at: row.created_at.0,
                };
                Ok((row, author_of(&to_user(actor)?)))
            })
            .collect::<Result<_, PortError>>()?;
        assemble_notifications(rows, &posts, self.marker.0)
    }
}

#[async_trait]
impl NotificationRepository for SqliteNotificationRepository {
    async fn list(&self, recipient: UserId, page: PageRequest) -> Result<Page<Notification>, PortError> {
        let loaded = self
            .db
            .read("listing notifications", move |conn| {
                let mut query = notifications::table
                    .inner_join(users::table.on(users::id.eq(notifications::actor_id)))
                    .filter(notifications::recipient_id.eq(Id(*recipient.as_uuid())))
                    .into_boxed();
                if let Some(before) = page.before {
                    query = query.filter(notifications::id.lt(Id(before)));
                }
                if let Some(since) = page.since {
                    query = query.filter(notifications::id.gt(Id(since)));
                }
                let rows = query
                    .order(notifications::id.desc())
                    .limit(i64::from(page.limit) + 1)
                    .select(notification_rows())
                    .load(conn)?;
                with_posts(conn, recipient, rows)
            })
            .await?;
        Ok(Page::from_rows(loaded.into_notifications()?, page.limit, |n| n.id))
    }

    async fn unread_count(&self, recipient: UserId) -> Result<u64, PortError> {
        let unread: i64 = self
            .db
            .read("counting unread notifications", move |conn| {
                let recipient = Id(*recipient.as_uuid());
                let marker = read_marker(conn, recipient)?;
                notifications::table
                    .filter(notifications::recipient_id.eq(recipient))
                    .filter(notifications::id.gt(marker))
                    .count()
                    .get_result(conn)
            })
            .await?;
        Ok(count(unread))
    }

    async fn mark_read(&self, recipient: UserId, up_to: Uuid) -> Result<(), PortError> {
        self.db
            .write("moving the read marker", move |conn| {
                diesel::insert_into(notification_markers::table)
                    .values((
                        notification_markers::user_id.eq(Id(*recipient.as_uuid())),
                        notification_markers::read_up_to.eq(Id(up_to)),
                    ))
                    .on_conflict(notification_markers::user_id)
                    .do_update()
                    // The marker only moves forward: a late, older request cannot
                    // unread anything. SQLite's max() compares blobs byte by byte,
                    // which is UUIDv7 order.
                    .set(
                        notification_markers::read_up_to
                            .eq(sql::<Binary>("max(notification_markers.read_up_to, excluded.read_up_to)")),
                    )
                    .execute(conn)
            })
            .await?;
        Ok(())
    }
}
