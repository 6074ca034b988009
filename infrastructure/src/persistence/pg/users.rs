//! `UserRepository` on PostgreSQL.

use application::ports::{NewUser, PasswordHash, Profile, UserChanges, UserCredentials, UserPage, UserRepository};
use application::{Conflict, PortError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use diesel::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel::{IntoSql, TextExpressionMethods, declare_sql_function};
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::{Author, Bio, DisplayName, Email, Role, User, UserId, Username};
use shaku::Component;
use uuid::Uuid;

use super::schema::users;
use super::{PgPool, checkout, failed};
use crate::persistence::count;
use crate::persistence::users::{StoredUser, author_of, in_named_order, like_prefix, profiles_in_order};

#[declare_sql_function]
extern "SQL" {
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

// The byte-wise comparisons of `text_pattern_ops`, the class of the username
// prefix index: a range over them uses the index in a plan made without the
// prefix's value (the pool's connections plan prepared statements once), where
// `LIKE $1` could not.
diesel::infix_operator!(PatternAtLeast, " ~>=~ ", backend: diesel::pg::Pg);
diesel::infix_operator!(PatternBelow, " ~<~ ", backend: diesel::pg::Pg);

/// Every lower-cased username starting with `prefix` lies in `[prefix, prefix + U+10FFFF)`
/// byte-wise (usernames are ASCII letters, digits and `_`: see `domain::Username`).
fn prefix_range(prefix: &str) -> (String, String) {
    let low = prefix.to_lowercase();
    let high = format!("{low}{}", char::MAX);
    (low, high)
}

/// Users in the `users` table.
#[derive(Component)]
#[shaku(interface = crate::di::UserRepositoryPort)]
pub struct PgUserRepository {
    pool: PgPool,
}

impl PgUserRepository {
    #[must_use]
    pub const fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(super) struct UserRow {
    id: Uuid,
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    bio: Option<String>,
    avatar: Option<String>,
    role: String,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for StoredUser {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            display_name: row.display_name,
            bio: row.bio,
            avatar: row.avatar,
            role: row.role,
            created_at: row.created_at,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: Uuid,
    username: &'a str,
    email: Option<&'a str>,
    password_hash: &'a str,
    role: &'a str,
    created_at: DateTime<Utc>,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangesRow<'a> {
    username: Option<&'a str>,
    email: Option<Option<&'a str>>,
    display_name: Option<Option<&'a str>>,
    bio: Option<Option<&'a str>>,
}

pub(super) fn to_user(row: UserRow) -> Result<User, PortError> {
    StoredUser::from(row).into_user()
}

/// A user with followers, following and posts counts, and whether the viewer follows them.
type ProfileRow = (UserRow, Option<i64>, Option<i64>, Option<i64>, bool);

/// Public profiles of `ids` (in that order, absent ones skipped) with their
/// counts and whether `viewer` follows each; one query whatever the number.
pub(super) async fn load_profiles(pool: &PgPool, ids: &[Uuid], viewer: UserId) -> Result<Vec<Profile>, PortError> {
    use super::schema::{follows, posts};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = checkout(pool).await?;
    let followers = follows::table.filter(follows::followee_id.eq(users::id)).count().single_value();
    let following = follows::table.filter(follows::follower_id.eq(users::id)).count().single_value();
    let posted = posts::table.filter(posts::author_id.eq(users::id)).count().single_value();
    let followed_by_me = diesel::dsl::exists(
        follows::table.filter(follows::follower_id.eq(viewer.as_uuid())).filter(follows::followee_id.eq(users::id)),
    );
    let rows: Vec<ProfileRow> = users::table
        .filter(users::id.eq_any(ids))
        .select((UserRow::as_select(), followers, following, posted, followed_by_me))
        .load(&mut conn)
        .await
        .map_err(failed("loading profiles"))?;
    let rows = rows
        .into_iter()
        .map(|(row, followers, following, posted, followed_by_me)| {
            (StoredUser::from(row), followers, following, posted, followed_by_me)
        })
        .collect();
    profiles_in_order(rows, ids)
}

/// A unique-index violation becomes the conflict it stands for; anything else is unknown.
fn write_failed(context: &'static str) -> impl FnOnce(DieselError) -> PortError {
    move |error| match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => match info.constraint_name() {
            Some("users_username_lower_key") => PortError::Conflict(Conflict::UsernameTaken),
            Some("users_email_lower_key") => PortError::Conflict(Conflict::EmailTaken),
            _ => failed(context)(error),
        },
        _ => failed(context)(error),
    }
}

impl PgUserRepository {
    async fn find_row(&self, username: &str) -> Result<Option<(UserRow, String)>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        users::table
            .filter(lower(users::username).eq(username.to_lowercase()))
            .select((UserRow::as_select(), users::password_hash))
            .first(&mut conn)
            .await
            .optional()
            .map_err(failed("finding a user by username"))
    }

    /// Public profiles of `ids` as `viewer` sees them, with their counts; one query.
    async fn profiles(&self, ids: &[Uuid], viewer: UserId) -> Result<Vec<Profile>, PortError> {
        load_profiles(&self.pool, ids, viewer).await
    }
}

#[async_trait]
impl UserRepository for PgUserRepository {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: NewUser) -> Result<User, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let row = NewUserRow {
            id: *user.id.as_uuid(),
            username: user.username.as_str(),
            email: user.email.as_ref().map(Email::as_str),
            password_hash: user.password_hash.as_str(),
            role: user.role.as_str(),
            created_at: user.created_at,
        };
        let stored: UserRow = diesel::insert_into(users::table)
            .values(&row)
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(write_failed("inserting a user"))?;
        to_user(stored)
    }

    async fn find(&self, id: UserId) -> Result<Option<User>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let row: Option<UserRow> = users::table
            .find(id.as_uuid())
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(failed("finding a user"))?;
        row.map(to_user).transpose()
    }

    async fn find_credentials(&self, username: &str) -> Result<Option<UserCredentials>, PortError> {
        let Some((row, hash)) = self.find_row(username).await? else {
            return Ok(None);
        };
        Ok(Some(UserCredentials { user: to_user(row)?, password_hash: PasswordHash::new(hash) }))
    }

    async fn profile(&self, id: UserId, viewer: UserId) -> Result<Option<Profile>, PortError> {
        Ok(self.profiles(&[*id.as_uuid()], viewer).await?.pop())
    }

    async fn profile_by_username(&self, username: &Username, viewer: UserId) -> Result<Option<Profile>, PortError> {
        let Some((row, _)) = self.find_row(username.as_str()).await? else {
            return Ok(None);
        };
        Ok(self.profiles(&[row.id], viewer).await?.pop())
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn set_avatar(&self, id: UserId, key: Option<String>) -> Result<Option<(User, Option<String>)>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        // Lock the row, read the old key, write the new one: concurrent uploads
        // each learn the key they really replaced, so no file is orphaned.
        let row: Option<(UserRow, Option<String>)> = conn
            .transaction(async |conn| {
                let Some(replaced) = users::table
                    .find(id.as_uuid())
                    .select(users::avatar)
                    .for_update()
                    .first::<Option<String>>(conn)
                    .await
                    .optional()?
                else {
                    return Ok(None);
                };
                let row = diesel::update(users::table.find(id.as_uuid()))
                    .set(users::avatar.eq(key))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(Some((row, replaced)))
            })
            .await
            .map_err(failed("setting an avatar"))?;
        row.map(|(row, replaced)| Ok((to_user(row)?, replaced))).transpose()
    }

    async fn author(&self, id: UserId) -> Result<Option<Author>, PortError> {
        Ok(self.find(id).await?.map(|user| author_of(&user)))
    }

    async fn authors_named(&self, usernames: &[Username]) -> Result<Vec<Author>, PortError> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = checkout(&self.pool).await?;
        let lowered: Vec<String> = usernames.iter().map(|u| u.as_str().to_lowercase()).collect();
        let rows: Vec<UserRow> = users::table
            .filter(lower(users::username).eq_any(&lowered))
            .select(UserRow::as_select())
            .load(&mut conn)
            .await
            .map_err(failed("finding mentioned users"))?;
        let found: Vec<User> = rows.into_iter().map(to_user).collect::<Result<_, _>>()?;
        Ok(in_named_order(&lowered, &found))
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn update(&self, id: UserId, changes: UserChanges) -> Result<Option<User>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let row = UserChangesRow {
            username: changes.username.as_ref().map(Username::as_str),
            email: changes.email.as_ref().map(|e| e.as_ref().map(Email::as_str)),
            display_name: changes.display_name.as_ref().map(|d| d.as_ref().map(DisplayName::as_str)),
            bio: changes.bio.as_ref().map(|b| b.as_ref().map(Bio::as_str)),
        };
        let updated: Option<UserRow> = diesel::update(users::table.find(id.as_uuid()))
            .set(&row)
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(write_failed("updating a user"))?;
        updated.map(to_user).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id, role = %role))]
    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let updated: Option<UserRow> = diesel::update(users::table.find(id.as_uuid()))
            .set(users::role.eq(role.as_str()))
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(failed("changing a role"))?;
        updated.map(to_user).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn delete(&self, id: UserId) -> Result<bool, PortError> {
        let mut conn = checkout(&self.pool).await?;
        // Everything the user owns references users(id) ON DELETE CASCADE.
        let deleted = diesel::delete(users::table.find(id.as_uuid()))
            .execute(&mut conn)
            .await
            .map_err(failed("deleting a user"))?;
        Ok(deleted > 0)
    }

    async fn list(&self, prefix: Option<&str>, limit: u32, offset: u64) -> Result<UserPage, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let filtered = || {
            let mut query = users::table.into_boxed();
            if let Some(prefix) = prefix {
                let (low, high) = prefix_range(prefix);
                query = query
                    .filter(PatternAtLeast::new(lower(users::username), low.into_sql::<Text>()))
                    .filter(PatternBelow::new(lower(users::username), high.into_sql::<Text>()))
                    .filter(lower(users::username).like(like_prefix(prefix)));
            }
            query
        };
        let total: i64 = filtered().count().get_result(&mut conn).await.map_err(failed("counting users"))?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows: Vec<UserRow> = filtered()
            .order(lower(users::username))
            .limit(i64::from(limit))
            .offset(offset)
            .select(UserRow::as_select())
            .load(&mut conn)
            .await
            .map_err(failed("listing users"))?;
        let users = rows.into_iter().map(to_user).collect::<Result<_, _>>()?;
        Ok(UserPage { users, total: count(total) })
    }
}
