//! `UserRepository` on SQLite.

use application::ports::{NewUser, PasswordHash, Profile, UserChanges, UserCredentials, UserPage, UserRepository};
use application::{Conflict, PortError};
use async_trait::async_trait;
use chrono::Utc;
use diesel::expression_methods::EscapeExpressionMethods;
use diesel::result::{DatabaseErrorKind, Error as DieselError, QueryResult};
use diesel::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, RunQueryDsl, Selectable,
    SelectableHelper, SqliteConnection, TextExpressionMethods,
};
use domain::{Author, Bio, DisplayName, Email, Role, User, UserId, Username};
use shaku::Component;
use uuid::Uuid;

use super::Sqlite;
use super::schema::users;
use super::types::{Id, Instant};
use crate::persistence::count;
use crate::persistence::users::{StoredProfile, StoredUser, author_of, in_named_order, like_prefix, profiles_in_order};

/// Users in the `users` table.
#[derive(Component)]
#[shaku(interface = crate::di::UserRepositoryPort)]
pub struct SqliteUserRepository {
    db: Sqlite,
}

impl SqliteUserRepository {
    #[must_use]
    pub const fn new(db: Sqlite) -> Self {
        Self { db }
    }
}

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

impl From<UserRow> for StoredUser {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id.0,
            username: row.username,
            email: row.email,
            display_name: row.display_name,
            bio: row.bio,
            avatar: row.avatar,
            role: row.role,
            created_at: row.created_at.0,
        }
    }
}

pub(super) fn to_user(row: UserRow) -> Result<User, PortError> {
    StoredUser::from(row).into_user()
}

/// The case-insensitive key of a username or e-mail address. SQLite's
/// `lower()` folds ASCII only, so the key is made here and stored beside the
/// value, under the unique index.
fn key(value: &str) -> String {
    value.to_lowercase()
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: Id,
    username: &'a str,
    username_key: String,
    email: Option<&'a str>,
    email_key: Option<String>,
    password_hash: &'a str,
    role: &'a str,
    created_at: Instant,
    updated_at: Instant,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangesRow<'a> {
    username: Option<&'a str>,
    username_key: Option<String>,
    email: Option<Option<&'a str>>,
    email_key: Option<Option<String>>,
    display_name: Option<Option<&'a str>>,
    bio: Option<Option<&'a str>>,
    /// Set here: SQLite has no trigger doing it as PostgreSQL's schema does.
    updated_at: Instant,
}

/// A unique violation on a username or e-mail key becomes the conflict it
/// stands for (SQLite names the column in its message, not the index); any
/// other error stays an error and rolls the transaction back.
fn or_conflict<T>(result: QueryResult<T>) -> QueryResult<Result<T, Conflict>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
            if info.message().contains("users.username_key") =>
        {
            Ok(Err(Conflict::UsernameTaken))
        }
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
            if info.message().contains("users.email_key") =>
        {
            Ok(Err(Conflict::EmailTaken))
        }
        Err(e) => Err(e),
    }
}

fn stored(conn: &mut SqliteConnection, id: Id) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).optional()
}

/// A user with followers, following and posts counts, and whether the viewer follows them.
type ProfileRow = (UserRow, Option<i64>, Option<i64>, Option<i64>, bool);

/// Public profiles of `ids` (absent ones skipped) with their counts and whether
/// `viewer` follows each; one query whatever the number.
pub(super) fn load_profiles(
    conn: &mut SqliteConnection,
    ids: &[Uuid],
    viewer: UserId,
) -> QueryResult<Vec<StoredProfile>> {
    use super::schema::{follows, posts};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let followers = follows::table.filter(follows::followee_id.eq(users::id)).count().single_value();
    let following = follows::table.filter(follows::follower_id.eq(users::id)).count().single_value();
    let posted = posts::table.filter(posts::author_id.eq(users::id)).count().single_value();
    let followed_by_me = diesel::dsl::exists(
        follows::table
            .filter(follows::follower_id.eq(Id(*viewer.as_uuid())))
            .filter(follows::followee_id.eq(users::id)),
    );
    let rows: Vec<ProfileRow> = users::table
        .filter(users::id.eq_any(ids.iter().copied().map(Id)))
        .select((UserRow::as_select(), followers, following, posted, followed_by_me))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, followers, following, posted, followed)| (row.into(), followers, following, posted, followed))
        .collect())
}

impl SqliteUserRepository {
    /// The profile of the user `find` picks, as `viewer` sees them; one read.
    async fn profile_where(
        &self,
        viewer: UserId,
        find: impl FnOnce(&mut SqliteConnection) -> QueryResult<Option<Id>> + Send + 'static,
    ) -> Result<Option<Profile>, PortError> {
        let (rows, id) = self
            .db
            .read("loading a profile", move |conn| {
                let Some(id) = find(conn)? else {
                    return Ok((Vec::new(), None));
                };
                Ok((load_profiles(conn, &[id.0], viewer)?, Some(id.0)))
            })
            .await?;
        let Some(id) = id else { return Ok(None) };
        Ok(profiles_in_order(rows, &[id])?.pop())
    }
}

#[async_trait]
impl UserRepository for SqliteUserRepository {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: NewUser) -> Result<User, PortError> {
        let row = self
            .db
            .write("inserting a user", move |conn| {
                let row = NewUserRow {
                    id: Id(*user.id.as_uuid()),
                    username: user.username.as_str(),
                    username_key: key(user.username.as_str()),
                    email: user.email.as_ref().map(Email::as_str),
                    email_key: user.email.as_ref().map(|e| key(e.as_str())),
                    password_hash: user.password_hash.as_str(),
                    role: user.role.as_str(),
                    created_at: Instant(user.created_at),
                    updated_at: Instant(user.created_at),
                };
                match or_conflict(diesel::insert_into(users::table).values(&row).execute(conn))? {
                    Ok(_) => Ok(Ok(stored(conn, row.id)?)),
                    Err(conflict) => Ok(Err(conflict)),
                }
            })
            .await?
            .map_err(PortError::Conflict)?;
        row.map(to_user).transpose()?.ok_or_else(|| PortError::Unknown(anyhow::anyhow!("inserted user not found")))
    }

    async fn find(&self, id: UserId) -> Result<Option<User>, PortError> {
        let id = Id(*id.as_uuid());
        let row = self.db.read("finding a user", move |conn| stored(conn, id)).await?;
        row.map(to_user).transpose()
    }

    async fn find_credentials(&self, username: &str) -> Result<Option<UserCredentials>, PortError> {
        let username_key = key(username);
        let row: Option<(UserRow, String)> = self
            .db
            .read("finding a user by username", move |conn| {
                users::table
                    .filter(users::username_key.eq(username_key))
                    .select((UserRow::as_select(), users::password_hash))
                    .first(conn)
                    .optional()
            })
            .await?;
        let Some((row, hash)) = row else { return Ok(None) };
        Ok(Some(UserCredentials { user: to_user(row)?, password_hash: PasswordHash::new(hash) }))
    }

    async fn profile(&self, id: UserId, viewer: UserId) -> Result<Option<Profile>, PortError> {
        let id = Id(*id.as_uuid());
        self.profile_where(viewer, move |_| Ok(Some(id))).await
    }

    async fn profile_by_username(&self, username: &Username, viewer: UserId) -> Result<Option<Profile>, PortError> {
        let username_key = key(username.as_str());
        self.profile_where(viewer, move |conn| {
            users::table.filter(users::username_key.eq(username_key)).select(users::id).first::<Id>(conn).optional()
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn set_avatar(&self, id: UserId, key: Option<String>) -> Result<Option<(User, Option<String>)>, PortError> {
        let id = Id(*id.as_uuid());
        // Read the old key and write the new one in one write transaction:
        // uploads are serialized by the one writer, so each learns the key it
        // really replaced and no file is orphaned.
        let row = self
            .db
            .write("setting an avatar", move |conn| {
                let Some(replaced) =
                    users::table.find(id).select(users::avatar).first::<Option<String>>(conn).optional()?
                else {
                    return Ok(None);
                };
                diesel::update(users::table.find(id))
                    .set((users::avatar.eq(key), users::updated_at.eq(Instant(Utc::now()))))
                    .execute(conn)?;
                Ok(stored(conn, id)?.map(|row| (row, replaced)))
            })
            .await?;
        row.map(|(row, replaced)| Ok((to_user(row)?, replaced))).transpose()
    }

    async fn author(&self, id: UserId) -> Result<Option<Author>, PortError> {
        Ok(self.find(id).await?.map(|user| author_of(&user)))
    }

    async fn authors_named(&self, usernames: &[Username]) -> Result<Vec<Author>, PortError> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let lowered: Vec<String> = usernames.iter().map(|u| key(u.as_str())).collect();
        let wanted = lowered.clone();
        let rows: Vec<UserRow> = self
            .db
            .read("finding mentioned users", move |conn| {
                users::table.filter(users::username_key.eq_any(wanted)).select(UserRow::as_select()).load(conn)
            })
            .await?;
        let found: Vec<User> = rows.into_iter().map(to_user).collect::<Result<_, _>>()?;
        Ok(in_named_order(&lowered, &found))
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn update(&self, id: UserId, changes: UserChanges) -> Result<Option<User>, PortError> {
        let id = Id(*id.as_uuid());
        let row = self
            .db
            .write("updating a user", move |conn| {
                let row = UserChangesRow {
                    username: changes.username.as_ref().map(Username::as_str),
                    username_key: changes.username.as_ref().map(|u| key(u.as_str())),
                    email: changes.email.as_ref().map(|e| e.as_ref().map(Email::as_str)),
                    email_key: changes.email.as_ref().map(|e| e.as_ref().map(|e| key(e.as_str()))),
                    display_name: changes.display_name.as_ref().map(|d| d.as_ref().map(DisplayName::as_str)),
                    bio: changes.bio.as_ref().map(|b| b.as_ref().map(Bio::as_str)),
                    updated_at: Instant(Utc::now()),
                };
                match or_conflict(diesel::update(users::table.find(id)).set(&row).execute(conn))? {
                    Ok(0) => Ok(Ok(None)),
                    Ok(_) => Ok(Ok(stored(conn, id)?)),
                    Err(conflict) => Ok(Err(conflict)),
                }
            })
            .await?
            .map_err(PortError::Conflict)?;
        row.map(to_user).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id, role = %role))]
    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, PortError> {
        let id = Id(*id.as_uuid());
        let row = self
            .db
            .write("changing a role", move |conn| {
                let changed = diesel::update(users::table.find(id))
                    .set((users::role.eq(role.as_str()), users::updated_at.eq(Instant(Utc::now()))))
                    .execute(conn)?;
                if changed == 0 { Ok(None) } else { stored(conn, id) }
            })
            .await?;
        row.map(to_user).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn delete(&self, id: UserId) -> Result<bool, PortError> {
        let id = Id(*id.as_uuid());
        // Everything the user owns references users(id) ON DELETE CASCADE
        // (enforced: every connection turns foreign keys on).
        let deleted =
            self.db.write("deleting a user", move |conn| diesel::delete(users::table.find(id)).execute(conn)).await?;
        Ok(deleted > 0)
    }

    async fn list(&self, prefix: Option<&str>, limit: u32, offset: u64) -> Result<UserPage, PortError> {
        let pattern = prefix.map(like_prefix);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let (total, rows): (i64, Vec<UserRow>) = self
            .db
            .read("listing users", move |conn| {
                let filtered = || {
                    let mut query = users::table.into_boxed::<diesel::sqlite::Sqlite>();
                    if let Some(pattern) = &pattern {
                        // SQLite's LIKE has no escape character unless told.
                        query = query.filter(users::username_key.like(pattern.clone()).escape('\\'));
                    }
                    query
                };
                let total = filtered().count().get_result(conn)?;
                let rows = filtered()
                    .order(users::username_key)
                    .limit(i64::from(limit))
                    .offset(offset)
                    .select(UserRow::as_select())
                    .load(conn)?;
                Ok((total, rows))
            })
            .await?;
        let users = rows.into_iter().map(to_user).collect::<Result<_, _>>()?;
        Ok(UserPage { users, total: count(total) })
    }
}
