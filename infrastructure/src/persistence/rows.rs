//! Turning stored rows into domain values, the same way on every backend.
//! Each backend reads its own column types, converts them to the plain values
//! here, and leaves the decoding (and its error handling) to these functions.

use anyhow::Context;
use application::PortError;
use chrono::{DateTime, Utc};
use domain::{
    Author, Bio, DisplayName, Email, Mention, NotificationKind, Post, PostContent, PostId, User, UserId, Username,
};
use uuid::Uuid;

/// Posts a global search first looks through, newest first, before it asks the
/// full-text index for the rest (see each backend's `search_everyone`).
pub(crate) const SEARCH_WINDOW: i64 = 4096;

/// A stored post, without its author and mentions.
pub(crate) struct StoredPost {
    pub id: Uuid,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// A mention as stored: (post id, mentioned user id, their username).
pub(crate) type StoredMention = (Uuid, Uuid, String);

/// A stored user's columns, as plain values.
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
    /// # Errors
    /// `Unknown` when a stored value no longer validates.
    pub(crate) fn into_user(self) -> Result<User, PortError> {
        let user = (|| -> anyhow::Result<User> {
            Ok(User {
                id: UserId::from_uuid(self.id),
                username: Username::new(&self.username).context("stored username")?,
                email: self.email.as_deref().map(Email::new).transpose().context("stored email")?,
                display_name: self
                    .display_name
                    .as_deref()
                    .map(DisplayName::new)
                    .transpose()
                    .context("stored display name")?,
                bio: self.bio.as_deref().map(Bio::new).transpose().context("stored bio")?,
                avatar: self.avatar,
                role: self.role.parse().context("stored role")?,
                created_at: self.created_at,
            })
        })();
        user.map_err(PortError::Unknown)
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

/// Posts from (post, author) rows and the mentions of all of them, in the
/// order of `rows`.
///
/// # Errors
/// `Unknown` when a stored value no longer validates.
pub(crate) fn assemble_posts(
    rows: Vec<(StoredPost, Author)>,
    mentions: &[StoredMention],
) -> Result<Vec<Post>, PortError> {
    rows.into_iter()
        .map(|(post, author)| {
            let mentions = mentions
                .iter()
                .filter(|(post_id, _, _)| *post_id == post.id)
                .map(|(_, user_id, name)| {
                    let username =
                        Username::new(name).map_err(|e| PortError::Unknown(anyhow::anyhow!("stored username: {e}")))?;
                    Ok(Mention { user_id: UserId::from_uuid(*user_id), username })
                })
                .collect::<Result<_, PortError>>()?;
            let content = PostContent::parse(&post.content)
                .map_err(|e| PortError::Unknown(anyhow::anyhow!("stored post: {e}")))?;
            Ok(Post { id: PostId::from_uuid(post.id), author, content, mentions, created_at: post.created_at })
        })
        .collect()
}

/// The post a notification of `kind` points to, as stored in its `post_id`.
pub(crate) fn notification_post_id(kind: &NotificationKind) -> Option<Uuid> {
    match kind {
        NotificationKind::Mention(post) => Some(*post.id.as_uuid()),
        NotificationKind::Follow => None,
    }
}

/// The kind of a stored notification, given the posts loaded for the page;
/// `None` for a mention whose post was deleted since (its notification goes
/// with it).
///
/// # Errors
/// `Unknown` for a kind this version does not know.
pub(crate) fn notification_kind(
    kind: &str,
    post_id: Option<Uuid>,
    posts: &[Post],
) -> Result<Option<NotificationKind>, PortError> {
    match (kind, post_id) {
        ("follow", _) => Ok(Some(NotificationKind::Follow)),
        ("mention", Some(post_id)) => Ok(posts
            .iter()
            .find(|p| *p.id.as_uuid() == post_id)
            .map(|post| NotificationKind::Mention(Box::new(post.clone())))),
        (other, _) => Err(PortError::Unknown(anyhow::anyhow!("stored notification kind {other:?}"))),
    }
}

/// A stored count as the ports report it.
pub(crate) fn count(n: Option<i64>) -> u64 {
    u64::try_from(n.unwrap_or(0)).unwrap_or(0)
}
