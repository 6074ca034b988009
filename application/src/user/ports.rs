//! What the user use cases need from persistence.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Author, Bio, DisplayName, Email, Role, User, UserId, Username};

use crate::PortError;
use crate::auth::ports::PasswordHash;

/// A user about to be stored.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub username: Username,
    pub email: Option<Email>,
    pub password_hash: PasswordHash,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A partial update: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub email: Option<Option<Email>>,
    pub display_name: Option<Option<DisplayName>>,
    pub bio: Option<Option<Bio>>,
}

impl UserChanges {
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.username.is_none() && self.email.is_none() && self.display_name.is_none() && self.bio.is_none()
    }
}

/// What a login needs to check a password.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: PasswordHash,
}

/// One page of the admin user list.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    pub total: u64,
}

/// A user as anyone signed in may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user: User,
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
    /// Whether the viewer follows this user.
    pub followed_by_me: bool,
}

/// Storage of users.
///
/// Usernames and e-mail addresses are unique case-insensitively: `Alice` and
/// `alice` are the same user. Every method returns `PortError::Unknown` when the
/// store fails.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// MUST return `PortError::Conflict(UsernameTaken)` or `Conflict(EmailTaken)`
    /// when another user holds that username or e-mail in any letter case.
    async fn insert(&self, user: NewUser) -> Result<User, PortError>;

    /// # Errors
    /// Only `PortError::Unknown`; an absent user is `Ok(None)`.
    async fn find(&self, id: UserId) -> Result<Option<User>, PortError>;

    /// Looks a user up by username in any letter case, with the password hash.
    ///
    /// # Errors
    /// Only `PortError::Unknown`; an absent user is `Ok(None)`.
    async fn find_credentials(&self, username: &str) -> Result<Option<UserCredentials>, PortError>;

    /// The public profile of `id` as `viewer` sees it.
    ///
    /// # Errors
    /// Only `PortError::Unknown`; an absent user is `Ok(None)`.
    async fn profile(&self, id: UserId, viewer: UserId) -> Result<Option<Profile>, PortError>;

    /// The public profile of the user named `username` (any letter case).
    ///
    /// # Errors
    /// Only `PortError::Unknown`; an absent user is `Ok(None)`.
    async fn profile_by_username(&self, username: &Username, viewer: UserId) -> Result<Option<Profile>, PortError>;

    /// Applies `changes`; returns the updated user, `None` if absent.
    ///
    /// # Errors
    /// MUST return `PortError::Conflict` as [`UserRepository::insert`] does.
    async fn update(&self, id: UserId, changes: UserChanges) -> Result<Option<User>, PortError>;

    /// Sets the role; returns the updated user, `None` if absent.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, PortError>;

    /// Deletes the user and everything that belongs to them (refresh tokens,
    /// and in later contexts posts, follows, notifications). `false` if absent.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn delete(&self, id: UserId) -> Result<bool, PortError>;

    /// Sets (or clears) the avatar key; returns the updated user and the key it
    /// replaced, `None` if the user is absent.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn set_avatar(&self, id: UserId, key: Option<String>) -> Result<Option<(User, Option<String>)>, PortError>;

    /// How `id` is shown next to what they write.
    ///
    /// # Errors
    /// Only `PortError::Unknown`; an absent user is `Ok(None)`.
    async fn author(&self, id: UserId) -> Result<Option<Author>, PortError>;

    /// The existing users among `usernames` (any letter case); unknown names are skipped.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn authors_named(&self, usernames: &[Username]) -> Result<Vec<Author>, PortError>;

    /// Users ordered by username, filtered by a case-insensitive username prefix.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn list(&self, prefix: Option<&str>, limit: u32, offset: u64) -> Result<UserPage, PortError>;
}

/// Why an avatar could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum AvatarError {
    /// Not a PNG, JPEG, WebP or GIF, judged by its bytes; or not decodable as one.
    #[error("not an accepted image: {0}")]
    Unsupported(&'static str),
    /// An accepted type whose dimensions pass the pixel limit; refused before decoding.
    #[error("image too large: {0}")]
    TooManyPixels(String),
    /// Every decoding slot is taken; refused at once.
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Storage of avatar images.
#[async_trait]
pub trait AvatarStorage: Send + Sync {
    /// Checks that `bytes` is an accepted image, re-encodes it to a bounded
    /// size (dropping metadata and anything hidden in the original), stores it
    /// under a fresh key and returns the key.
    ///
    /// # Errors
    /// `AvatarError::Unsupported` for anything but PNG, JPEG, WebP or GIF
    /// content, whatever its name; `TooManyPixels` when the header announces
    /// more pixels than the limit (before any decoding); `Busy` when every
    /// decoding slot is taken; `Unknown` when storing fails.
    async fn store(&self, owner: UserId, bytes: Vec<u8>) -> Result<String, AvatarError>;

    /// Removes a stored avatar; a missing one is not an error.
    ///
    /// # Errors
    /// `PortError::Unknown` when removal fails.
    async fn delete(&self, key: &str) -> Result<(), PortError>;
}
