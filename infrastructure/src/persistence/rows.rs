//! Turning stored rows into domain values, the same way on every backend.
//! Each backend reads its own column types, converts them to the plain values
//! here, and leaves the decoding (and its error handling) to these functions.

use application::PortError;
use chrono::{DateTime, Utc};
use domain::{Author, Mention, Notification, NotificationKind, Post, PostContent, PostId, UserId, Username};
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

/// A stored notification, without its actor.
pub(crate) struct StoredNotification {
    pub id: Uuid,
    pub recipient_id: Uuid,
    pub kind: String,
    pub post_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Notifications from (notification, actor) rows, in the order of `rows`,
/// given the posts they point to and the recipient's read marker (everything
/// at or below it is read); a mention whose post is gone is left out.
///
/// # Errors
/// `Unknown` for a kind this version does not know.
pub(crate) fn assemble_notifications(
    rows: Vec<(StoredNotification, Author)>,
    posts: &[Post],
    marker: Uuid,
) -> Result<Vec<Notification>, PortError> {
    let mut list = Vec::with_capacity(rows.len());
    for (row, actor) in rows {
        let Some(kind) = notification_kind(&row.kind, row.post_id, posts)? else { continue };
        list.push(Notification {
            id: row.id,
            recipient: UserId::from_uuid(row.recipient_id),
            actor,
            kind,
            created_at: row.created_at,
            read: row.id <= marker,
        });
    }
    Ok(list)
}

/// The kind of a stored notification, given the posts loaded for the page;
/// `None` for a mention whose post was deleted since (its notification goes
/// with it).
///
/// # Errors
/// `Unknown` for a kind this version does not know.
fn notification_kind(kind: &str, post_id: Option<Uuid>, posts: &[Post]) -> Result<Option<NotificationKind>, PortError> {
    match (kind, post_id) {
        ("follow", _) => Ok(Some(NotificationKind::Follow)),
        ("mention", Some(post_id)) => Ok(posts
            .iter()
            .find(|p| *p.id.as_uuid() == post_id)
            .map(|post| NotificationKind::Mention(Box::new(post.clone())))),
        (other, _) => Err(PortError::Unknown(anyhow::anyhow!("stored notification kind {other:?}"))),
    }
}
