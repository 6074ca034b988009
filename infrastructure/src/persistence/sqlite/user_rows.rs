//! Users as the content repositories read them on SQLite: authors of posts
//! and notifications, and profiles in follower lists.

use application::PortError;
use application::ports::Profile;
use diesel::SqliteConnection;
use diesel::{ExpressionMethods, QueryDsl, QueryResult, Queryable, RunQueryDsl, Selectable, SelectableHelper};
use domain::{Author, User};

use super::schema::{follows, posts, users};
use super::types::{Id, Instant};
use crate::persistence::rows::{StoredUser, author_of, count};

#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite))]
pub(super) struct UserRow {
    id: Id,
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    bio: Option<String>,
    avatar: Option<String>,
    role: String,
    created_at: Instant,
}

impl UserRow {
    pub(super) fn into_user(self) -> Result<User, PortError> {
        StoredUser {
            id: self.id.0,
            username: self.username,
            email: self.email,
            display_name: self.display_name,
            bio: self.bio,
            avatar: self.avatar,
            role: self.role,
            created_at: self.created_at.0,
        }
        .into_user()
    }

    pub(super) fn into_author(self) -> Result<Author, PortError> {
        Ok(author_of(&self.into_user()?))
    }
}

/// A user with followers, following and posts counts, and whether the viewer follows them.
pub(super) type ProfileRow = (UserRow, Option<i64>, Option<i64>, Option<i64>, bool);

/// The profile rows of `ids` with their counts and whether `viewer` follows
/// each; one query whatever the number.
pub(super) fn load_profiles(conn: &mut SqliteConnection, ids: &[Id], viewer: Id) -> QueryResult<Vec<ProfileRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let followers = follows::table.filter(follows::followee_id.eq(users::id)).count().single_value();
    let following = follows::table.filter(follows::follower_id.eq(users::id)).count().single_value();
    let posted = posts::table.filter(posts::author_id.eq(users::id)).count().single_value();
    let followed_by_me = diesel::dsl::exists(
        follows::table.filter(follows::follower_id.eq(viewer)).filter(follows::followee_id.eq(users::id)),
    );
    users::table
        .filter(users::id.eq_any(ids))
        .select((UserRow::as_select(), followers, following, posted, followed_by_me))
        .load(conn)
}

/// Profiles from the rows of [`load_profiles`].
pub(super) fn to_profiles(rows: Vec<ProfileRow>) -> Result<Vec<Profile>, PortError> {
    rows.into_iter()
        .map(|(row, followers, following, posted, followed_by_me)| {
            Ok(Profile {
                user: row.into_user()?,
                followers_count: count(followers),
                following_count: count(following),
                posts_count: count(posted),
                followed_by_me,
            })
        })
        .collect()
}
