//! What both backends' user repositories share: reading a stored user back
//! into the domain, and the username-prefix pattern of the admin list.

use anyhow::Context;
use application::PortError;
use application::ports::Profile;
use chrono::{DateTime, Utc};
use domain::{Author, Bio, DisplayName, Email, User, UserId, Username};
use uuid::Uuid;

use super::count;

/// A `users` row as either backend reads it, before validation.
pub(crate) struct StoredUser {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl StoredUser {
    /// The domain user; a stored value the domain rejects is a storage fault.
    pub(crate) fn into_user(self) -> Result<User, PortError> {
        self.parse().map_err(PortError::Unknown)
    }

    fn parse(self) -> anyhow::Result<User> {
        // The public fields are validated as an author's are.
        let public =
            StoredAuthor { id: self.id, username: self.username, display_name: self.display_name, avatar: self.avatar }
                .parse()?;
        Ok(User {
            id: public.id,
            username: public.username,
            email: self.email.as_deref().map(Email::new).transpose().context("stored email")?,
            display_name: public.display_name,
            bio: self.bio.as_deref().map(Bio::new).transpose().context("stored bio")?,
            avatar: public.avatar,
            role: self.role.parse().context("stored role")?,
            created_at: self.created_at,
        })
    }
}

/// The public fields of a post's author as a backend reads them, before validation.
pub(crate) struct StoredAuthor {
    pub id: Uuid,
    pub username: String,
    pub display_name: Option<String>,
    pub avatar: Option<String>,
}

impl StoredAuthor {
    /// The domain author; a stored value the domain rejects is a storage fault.
    pub(crate) fn into_author(self) -> Result<Author, PortError> {
        self.parse().map_err(PortError::Unknown)
    }

    fn parse(self) -> anyhow::Result<Author> {
        Ok(Author {
            id: UserId::from_uuid(self.id),
            username: Username::new(&self.username).context("stored username")?,
            display_name: self
                .display_name
                .as_deref()
                .map(DisplayName::new)
                .transpose()
                .context("stored display name")?,
            avatar: self.avatar,
        })
    }
}

/// The public face of `user` on posts and notifications.
pub(crate) fn author_of(user: &User) -> Author {
    Author {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        avatar: user.avatar.clone(),
    }
}

/// The LIKE pattern of usernames starting with `prefix` in any letter case
/// (matched against the lower-cased username), with `%`, `_` and `\` escaped
/// by `\` so that user input is matched literally.
pub(crate) fn like_prefix(prefix: &str) -> String {
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

/// A stored user with followers, following and posts counts, and whether the viewer follows them.
pub(crate) type StoredProfile = (StoredUser, Option<i64>, Option<i64>, Option<i64>, bool);

/// Profiles in the order of `ids`, whatever order the rows came in.
pub(crate) fn profiles_in_order(rows: Vec<StoredProfile>, ids: &[Uuid]) -> Result<Vec<Profile>, PortError> {
    let count = |n: Option<i64>| count(n.unwrap_or(0));
    let mut profiles = Vec::with_capacity(rows.len());
    for (user, followers, following, posted, followed_by_me) in rows {
        profiles.push(Profile {
            user: user.into_user()?,
            followers_count: count(followers),
            following_count: count(following),
            posts_count: count(posted),
            followed_by_me,
        });
    }
    profiles.sort_by_key(|p| ids.iter().position(|id| id == p.user.id.as_uuid()));
    Ok(profiles)
}

/// Found users in the order `wanted` names them (lower-cased), skipping names not found.
pub(crate) fn in_named_order(wanted: &[String], found: &[User]) -> Vec<Author> {
    wanted
        .iter()
        .filter_map(|name| found.iter().find(|u| u.username.as_str().to_lowercase() == *name))
        .map(author_of)
        .collect()
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
