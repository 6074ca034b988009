//! What authentication needs: hashing, tokens, refresh-token storage, revocation.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::{Password, Role, UserId};
use std::fmt;
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

/// Hashes and checks passwords. Slow on purpose.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// # Errors
    /// `PortError::Unknown` if hashing fails.
    async fn hash(&self, password: Password) -> Result<PasswordHash, PortError>;

    /// Checks `candidate` against `hash`.
    ///
    /// MUST spend about the time of one real verification even when `candidate`
    /// or `hash` is `None` (unknown user, impossible password), and answer
    /// `false` then, so that callers cannot be told apart by timing.
    ///
    /// # Errors
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
