//! Response bodies shared by several endpoint groups.

use actix_web::web;
use application::ports::Profile;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::User;
use serde::{Serialize, Serializer};
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
#[derive(Serialize)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub role: &'static str,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl UserView {
    #[must_use]
    pub fn new(user: User, urls: &web::Data<PublicUrls>) -> Self {
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
#[derive(Serialize)]
pub struct ProfileView {
    pub id: Uuid,
    pub username: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
    pub followed_by_me: bool,
}

impl ProfileView {
    #[must_use]
    pub fn new(profile: Profile, urls: &web::Data<PublicUrls>) -> Self {
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
