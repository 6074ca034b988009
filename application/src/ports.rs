//! Every port in one place. Each is defined in its context's `ports` module;
//! the clock, shared by all, is defined here.

use chrono::{DateTime, Utc};

pub use crate::admin::ports::{ActivityLog, Counts, StatsRepository};
pub use crate::auth::ports::{
    AccessClaims, Admission, AttemptId, AttemptLimiter, IssuedAccessToken, LoginLimits, PasswordHash, PasswordHasher,
    RateLimit, RefreshOutcome, RefreshTokenStore, RevocationList, TicketStore, TokenIssuer,
};
pub use crate::follow::ports::{FollowEntry, FollowRepository, NewFollow};
pub use crate::notification::ports::NotificationRepository;
pub use crate::post::ports::{
    CreatePostOutcome, DailyQuota, IdempotencyKey, NewPost, PostQuery, PostRepository, PostScope,
};
pub use crate::user::ports::{
    AvatarError, AvatarStorage, NewUser, Profile, UserChanges, UserCredentials, UserPage, UserRepository,
};
pub use crate::webhook::ports::{UrlGuard, Webhook, WebhookRepository};

/// The current time. A port so that use cases can be tested at any instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}
