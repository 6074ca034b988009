//! The one error type of the application layer, and the error that ports return.

use std::collections::BTreeMap;

/// Which uniqueness rule a change broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    UsernameTaken,
    EmailTaken,
}

/// Why a caller could not be authenticated. Each kind is reported as-is
/// to the client: none of them tells an attacker which half of a credential
/// was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No token where one is required.
    MissingToken,
    /// A token that is malformed, forged, or signed for someone else.
    InvalidToken,
    /// A well-formed token past its `exp`.
    TokenExpired,
    /// A token revoked by logout, or belonging to a deleted user.
    TokenRevoked,
    /// Wrong username or password (indistinguishable on purpose).
    InvalidCredentials,
    /// A refresh token that is unknown, expired or revoked.
    InvalidRefreshToken,
    /// A refresh token presented a second time: its whole family is now revoked.
    RefreshTokenReused,
}

/// What an adapter behind a port reports.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The change breaks a uniqueness rule.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// The adapter is saturated (a bounded queue or pool is full) and refused
    /// the work at once instead of queueing it without bound.
    #[error("busy")]
    Busy,
    /// The dependency behind the port is unreachable or refusing connections;
    /// the same call may succeed once it is back.
    #[error("dependency unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: the dependency failed. Carries the cause chain for the logs.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Field name -> the rules its value broke.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Everything a use case can answer instead of a result.
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    #[error("invalid input")]
    Validation(FieldErrors),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    #[error("authentication failed: {0:?}")]
    Unauthorized(AuthFailure),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// An upload that is not one of the accepted media types.
    #[error("unsupported media: {0}")]
    UnsupportedMedia(&'static str),
    /// The daily post quota is spent; it frees in `retry_after_seconds`.
    #[error("quota exceeded")]
    QuotaExceeded { retry_after_seconds: u64 },
    /// Too many failed attempts (logins) or registrations from one client;
    /// the window frees in `retry_after_seconds`.
    #[error("too many attempts")]
    TooManyAttempts { retry_after_seconds: u64 },
    /// The server is saturated (e.g. the password-hashing queue is full).
    #[error("busy")]
    Busy,
    /// A dependency (database, broker) is down.
    #[error("dependency unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

impl ApplicationError {
    /// A validation error on one field.
    #[must_use]
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }
}

impl From<PortError> for ApplicationError {
    fn from(error: PortError) -> Self {
        match error {
            PortError::Conflict(conflict) => Self::Conflict(conflict),
            PortError::Busy => Self::Busy,
            PortError::Unavailable(cause) => Self::Unavailable(cause),
            PortError::Unknown(cause) => Self::Unknown(cause),
        }
    }
}
