//! The JSON shapes of the public contract, shared by HTTP answers and event payloads (a
//! WebSocket event carries the same `Post` a GET answers).

use application::ports::Profile;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Author, Mention, Notification, NotificationKind, Post, User};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

/// RFC 3339 in UTC with milliseconds: `2026-11-22T10:00:00.123Z`.
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Where public files are served from: `PUBLIC_BASE_URL`, or root-relative.
#[derive(Clone, Debug, Default)]
pub struct PublicUrls {
    pub base: Option<String>,
}

impl PublicUrls {
    #[must_use]
    pub fn media(&self, key: &str) -> String {
        format!("{}/media/{key}", self.base.as_deref().unwrap_or(""))
    }
}

/// `User`: only ever shown to its owner or an admin.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    #[schema(value_type = String, example = "user")]
    pub role: &'static str,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T10:00:00.123Z")]
    pub created_at: DateTime<Utc>,
}

impl UserView {
    #[must_use]
    pub fn new(user: User, urls: &PublicUrls) -> Self {
        Self {
            id: *user.id.as_uuid(),
            username: user.username.as_str().to_owned(),
            email: user.email.map(|e| e.as_str().to_owned()),
            display_name: user.display_name.map(|d| d.as_str().to_owned()),
            bio: user.bio.map(|b| b.as_str().to_owned()),
            avatar_url: user.avatar.as_deref().map(|key| urls.media(key)),
            role: user.role.as_str(),
            created_at: user.created_at,
        }
    }
}

/// `Profile`: what any signed-in user may see of another.
#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    pub id: Uuid,
    pub username: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T10:00:00.123Z")]
    pub created_at: DateTime<Utc>,
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
    pub followed_by_me: bool,
}

impl ProfileView {
    #[must_use]
    pub fn new(profile: Profile, urls: &PublicUrls) -> Self {
        let user = profile.user;
        Self {
            id: *user.id.as_uuid(),
            username: user.username.as_str().to_owned(),
            display_name: user.display_name.map(|d| d.as_str().to_owned()),
            bio: user.bio.map(|b| b.as_str().to_owned()),
            avatar_url: user.avatar.as_deref().map(|key| urls.media(key)),
            created_at: user.created_at,
            followers_count: profile.followers_count,
            following_count: profile.following_count,
            posts_count: profile.posts_count,
            followed_by_me: profile.followed_by_me,
        }
    }
}

/// `{id, username, display_name, avatar_url}` next to a post or notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthorView {
    pub id: Uuid,
    pub username: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

impl AuthorView {
    #[must_use]
    pub fn new(author: &Author, urls: &PublicUrls) -> Self {
        Self {
            id: *author.id.as_uuid(),
            username: author.username.as_str().to_owned(),
            display_name: author.display_name.as_ref().map(|d| d.as_str().to_owned()),
            avatar_url: author.avatar.as_deref().map(|key| urls.media(key)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MentionView {
    pub id: Uuid,
    pub username: String,
}

impl From<&Mention> for MentionView {
    fn from(mention: &Mention) -> Self {
        Self { id: *mention.user_id.as_uuid(), username: mention.username.as_str().to_owned() }
    }
}

/// `Post`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PostView {
    pub id: Uuid,
    pub author: AuthorView,
    pub content: String,
    pub mentions: Vec<MentionView>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T10:00:00.123Z")]
    pub created_at: DateTime<Utc>,
}

impl PostView {
    #[must_use]
    pub fn new(post: &Post, urls: &PublicUrls) -> Self {
        Self {
            id: *post.id.as_uuid(),
            author: AuthorView::new(&post.author, urls),
            content: post.content.as_str().to_owned(),
            mentions: post.mentions.iter().map(MentionView::from).collect(),
            created_at: post.created_at,
        }
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationType {
    Follow,
    Mention,
}

/// `Notification`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "mention")]
    pub kind: NotificationType,
    pub actor: AuthorView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<PostView>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T10:00:00.123Z")]
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

impl NotificationView {
    #[must_use]
    pub fn new(notification: &Notification, urls: &PublicUrls) -> Self {
        Self {
            id: notification.id,
            kind: match notification.kind {
                NotificationKind::Follow => NotificationType::Follow,
                NotificationKind::Mention(_) => NotificationType::Mention,
            },
            actor: AuthorView::new(&notification.actor, urls),
            post: match &notification.kind {
                NotificationKind::Mention(post) => Some(PostView::new(post, urls)),
                NotificationKind::Follow => None,
            },
            created_at: notification.created_at,
            read: notification.read,
        }
    }
}

/// A keyset page: `{"data": [...], "next_cursor": "<id>" | null}`.
#[derive(Serialize, ToSchema)]
pub struct CursorPage<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<Uuid>,
}

impl<T> CursorPage<T> {
    pub fn new<U>(page: application::paging::Page<U>, view: impl FnMut(U) -> T) -> Self {
        Self { data: page.items.into_iter().map(view).collect(), next_cursor: page.next_cursor }
    }
}
