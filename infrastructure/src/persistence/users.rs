//! `UserRepository` on PostgreSQL.

use anyhow::Context;
use application::ports::{NewUser, PasswordHash, Profile, UserChanges, UserCredentials, UserPage, UserRepository};
use application::{Conflict, PortError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel::{TextExpressionMethods, declare_sql_function};
use diesel_async::RunQueryDsl;
use domain::{Bio, DisplayName, Email, Role, User, UserId, Username};
use shaku::Component;
use uuid::Uuid;

use super::schema::users;
use super::{PgPool, checkout, failed};

#[declare_sql_function]
extern "SQL" {
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
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
struct UserRow {
    id: Uuid,
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    bio: Option<String>,
    avatar: Option<String>,
    role: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = anyhow::Error;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: UserId::from_uuid(row.id),
            username: Username::new(&row.username).context("stored username")?,
            email: row.email.as_deref().map(Email::new).transpose().context("stored email")?,
            display_name: row
                .display_name
                .as_deref()
                .map(DisplayName::new)
                .transpose()
                .context("stored display name")?,
            bio: row.bio.as_deref().map(Bio::new).transpose().context("stored bio")?,
            avatar: row.avatar,
            role: row.role.parse().context("stored role")?,
            created_at: row.created_at,
        })
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

fn to_user(row: UserRow) -> Result<User, PortError> {
    User::try_from(row).map_err(PortError::Unknown)
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

/// Escapes `%`, `_` and `\` so that user input is matched literally by LIKE.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
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

    /// Follows, posts and their counts arrive with the posts context; until then
    /// every profile honestly has none.
    fn profile_of(user: User) -> Profile {
        Profile { user, followers_count: 0, following_count: 0, posts_count: 0, followed_by_me: false }
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

    async fn profile(&self, id: UserId, _viewer: UserId) -> Result<Option<Profile>, PortError> {
        Ok(self.find(id).await?.map(Self::profile_of))
    }

    async fn profile_by_username(&self, username: &Username, _viewer: UserId) -> Result<Option<Profile>, PortError> {
        let Some((row, _)) = self.find_row(username.as_str()).await? else {
            return Ok(None);
        };
        Ok(Some(Self::profile_of(to_user(row)?)))
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
                query = query.filter(lower(users::username).like(like_prefix(prefix)));
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
        Ok(UserPage { users, total: u64::try_from(total).unwrap_or(0) })
    }
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn like_prefix_matches_wildcards_literally() {
        assert_eq!(like_prefix("An_n%"), "an\\_n\\%%");
        assert_eq!(like_prefix("a\\b"), "a\\\\b%");
    }
}
