//! What authentication needs: hashing, tokens, refresh-token storage,
//! revocation, and the count of attempts per client.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::{Password, Role, UserId};
use std::fmt;
use std::net::IpAddr;
use uuid::Uuid;

use crate::{AuthFailure, PortError};

/// An encoded password hash (PHC string). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    #[must_use]
    pub const fn new(encoded: String) -> Self {
        Self(encoded)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Hashes and checks passwords. Slow on purpose, and a bounded resource: an
/// implementation may refuse work rather than queue it without bound.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// # Errors
    /// `PortError::Busy` when the hasher is saturated (it MUST answer that at
    /// once, not after waiting); `PortError::Unknown` if hashing fails.
    async fn hash(&self, password: Password) -> Result<PasswordHash, PortError>;

    /// Checks `candidate` against `hash`.
    ///
    /// MUST spend about the time of one real verification even when `candidate`
    /// or `hash` is `None` (unknown user, impossible password), and answer
    /// `false` then, so that callers cannot be told apart by timing.
    ///
    /// # Errors
    /// `PortError::Busy` when the hasher is saturated (at once, as for `hash`);
    /// `PortError::Unknown` if the hasher itself fails; a stored hash that
    /// cannot be parsed is `Ok(false)`.
    async fn verify(&self, candidate: Option<Password>, hash: Option<PasswordHash>) -> Result<bool, PortError>;
}

/// The claims of a valid access token: who the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    /// The role when the token was issued; authorization re-reads the current role.
    pub role: Role,
    /// The token's `jti`, what revocation keys on.
    pub token_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A freshly signed access token.
#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: String,
    pub claims: AccessClaims,
}

/// Signs and checks access tokens.
pub trait TokenIssuer: Send + Sync {
    /// # Errors
    /// `PortError::Unknown` if signing fails.
    fn issue(&self, user_id: UserId, role: Role) -> Result<IssuedAccessToken, PortError>;

    /// # Errors
    /// MUST return `AuthFailure::TokenExpired` for a genuine token past `exp`, and
    /// `AuthFailure::InvalidToken` for anything malformed, unsigned, signed with
    /// another key or algorithm, or issued by someone else.
    fn verify(&self, token: &str) -> Result<AccessClaims, AuthFailure>;

    /// How long an access token lives.
    fn ttl(&self) -> Duration;
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live; it is now spent and a successor may be issued in `family`.
    Rotated { user_id: UserId, family: Uuid },
    /// The token had already been spent: a sign of theft.
    Reused { user_id: UserId, family: Uuid },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Stores refresh tokens (hashed, never in clear) grouped in rotation families.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Creates a random token for `user_id` in `family` and returns it in clear;
    /// only its hash is stored.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn issue(&self, user_id: UserId, family: Uuid, expires_at: DateTime<Utc>) -> Result<String, PortError>;

    /// Spends `presented`. MUST be atomic: of two concurrent calls with the same
    /// token, at most one gets `Rotated`.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn rotate(&self, presented: &str, now: DateTime<Utc>) -> Result<RefreshOutcome, PortError>;

    /// Revokes every token of `family`.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn revoke_family(&self, family: Uuid) -> Result<(), PortError>;

    /// Revokes the family of `presented` if it belongs to `owner`; otherwise does nothing.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn revoke_presented(&self, presented: &str, owner: UserId) -> Result<(), PortError>;
}

/// Access tokens that must stop working before they expire.
///
/// Writes are durable; [`RevocationList::is_revoked`] answers from memory, with no I/O.
#[async_trait]
pub trait RevocationList: Send + Sync {
    /// Revokes one access token until it would have expired anyway.
    ///
    /// # Errors
    /// `PortError::Unknown` if the revocation could not be stored.
    async fn revoke_token(&self, token_id: Uuid, expires_at: DateTime<Utc>) -> Result<(), PortError>;

    /// Revokes every access token of `user_id`. The entry may be forgotten after
    /// `until`, when every token issued so far has expired.
    ///
    /// # Errors
    /// `PortError::Unknown` if the revocation could not be stored.
    async fn revoke_user(&self, user_id: UserId, until: DateTime<Utc>) -> Result<(), PortError>;

    /// Whether a token with these claims was revoked.
    fn is_revoked(&self, claims: &AccessClaims) -> bool;
}

/// Single-use tickets that stand for an access token on a WebSocket upgrade.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Creates a random ticket for the token in `claims`, valid until
    /// `expires_at`, and returns it in clear; only its hash is stored.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn issue(&self, claims: &AccessClaims, expires_at: DateTime<Utc>) -> Result<String, PortError>;

    /// Spends `ticket`: MUST answer the claims at most once per ticket, and
    /// only before its expiry; `None` otherwise.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure.
    async fn redeem(&self, ticket: &str, now: DateTime<Utc>) -> Result<Option<AccessClaims>, PortError>;
}

/// At most `max` events within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

/// The limits on failed logins from one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins for one username (case-insensitively) from one address.
    pub per_username: RateLimit,
    /// Failed logins from one address, whatever the username.
    pub per_address: RateLimit,
}

/// One recorded attempt, so that it can be forgotten if it ends without a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptId(pub Uuid);

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Recorded: it now counts against the client until forgotten or out of the window.
    Admitted(AttemptId),
    /// A limit is reached; the earliest a new attempt can be admitted is `retry_after` from now.
    Refused { retry_after: Duration },
}

/// Counts login and registration attempts per client address, shared by every
/// instance of the service.
///
/// Attempts are recorded *before* the expensive work (hashing), so that
/// concurrent attempts cannot all pass the check: every admitted attempt
/// counts until it is cleared (success) or forgotten (no verdict).
#[async_trait]
pub trait AttemptLimiter: Send + Sync {
    /// Records a login attempt for `username` from `client` at `now`, unless
    /// `limits.per_username` attempts for that username (compared
    /// case-insensitively) from `client`, or `limits.per_address` attempts from
    /// `client` altogether, are already recorded within their window before `now`.
    ///
    /// MUST be atomic per client: of concurrent calls, no more are admitted
    /// than the limits allow. A refusal records nothing and MUST carry the time
    /// until the window frees enough for one more attempt (at least 1 s).
    ///
    /// # Errors
    /// `PortError::Unavailable` when the store is unreachable, `Unknown` on
    /// other storage failures; nothing is recorded then.
    async fn begin_login(
        &self,
        username: &str,
        client: IpAddr,
        limits: &LoginLimits,
        now: DateTime<Utc>,
    ) -> Result<Admission, PortError>;

    /// After a successful login: forgets every recorded login attempt for
    /// `username` (case-insensitively) from `client`.
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure.
    async fn clear_logins(&self, username: &str, client: IpAddr) -> Result<(), PortError>;

    /// Records a registration from `client` at `now`, unless `limit.max` are
    /// already recorded within `limit.window` before `now`. Atomic per client,
    /// and a refusal carries the wait, as for [`AttemptLimiter::begin_login`].
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure; nothing is recorded then.
    async fn begin_registration(
        &self,
        client: IpAddr,
        limit: &RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Admission, PortError>;

    /// Forgets one attempt that ended without a verdict (hasher busy, a
    /// dependency down), so that the client is not charged for our failure.
    /// Forgetting an unknown or already forgotten attempt does nothing.
    ///
    /// # Errors
    /// `PortError::Unavailable` or `Unknown` on storage failure.
    async fn forget(&self, attempt: AttemptId) -> Result<(), PortError>;
}
