use chrono::Duration;
use domain::{Email, Password, Role, User, UserId, Username};
use std::net::IpAddr;
use std::sync::Arc;
use uuid::Uuid;

use crate::ports::{
    AccessClaims, ActivityLog, Admission, AttemptId, AttemptLimiter, Clock, LoginLimits, NewUser, PasswordHasher,
    RateLimit, RefreshOutcome, RefreshTokenStore, RevocationList, TicketStore, TokenIssuer, UserRepository,
};

/// How long a WebSocket ticket may wait to be used.
pub const TICKET_TTL: Duration = Duration::seconds(30);
use crate::user::is_admin;
use crate::{ApplicationError, AuthFailure};

/// A validated registration.
#[derive(Debug, Clone)]
pub struct RegisterCommand {
    pub username: Username,
    pub password: Password,
    pub email: Option<Email>,
    /// Only an admin may choose a role; `None` means `user`.
    pub role: Option<Role>,
}

/// What a successful sign-in or refresh hands out.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// How many login failures and registrations a client address is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    pub login: LoginLimits,
    pub registration: RateLimit,
}

/// Usernames longer than this are cut before being counted: no valid one is
/// that long, and a flood must not store kilobytes per attempt.
const MAX_COUNTED_USERNAME: usize = 64;

/// The name an attempt is counted under: case-insensitive, bounded.
fn counted_name(username: &str) -> String {
    // Lower-cased first: lower-casing can lengthen a string ('İ' becomes two characters).
    username.to_lowercase().chars().take(MAX_COUNTED_USERNAME).collect()
}

/// A refusal's wait in whole seconds, rounded up: retrying after it must succeed.
fn seconds_until(wait: Duration) -> u64 {
    let millis = u64::try_from(wait.num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

/// Errors after which nobody knows whether the credentials were good: the
/// attempt is not held against the client.
const fn is_without_verdict(error: &ApplicationError) -> bool {
    matches!(error, ApplicationError::Busy | ApplicationError::Unavailable(_) | ApplicationError::Unknown(_))
}

/// Authentication use cases.
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    revocations: Arc<dyn RevocationList>,
    tickets: Arc<dyn TicketStore>,
    activity: Arc<dyn ActivityLog>,
    clock: Arc<dyn Clock>,
    attempts: Arc<dyn AttemptLimiter>,
    refresh_ttl: Duration,
    limits: AttemptLimits,
}

/// The ports of [`AuthService`].
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub revocations: Arc<dyn RevocationList>,
    pub tickets: Arc<dyn TicketStore>,
    pub activity: Arc<dyn ActivityLog>,
    pub clock: Arc<dyn Clock>,
    pub attempts: Arc<dyn AttemptLimiter>,
}

impl AuthService {
    #[must_use]
    pub fn new(ports: AuthPorts, refresh_ttl: Duration, limits: AttemptLimits) -> Self {
        let AuthPorts { users, hasher, tokens, refresh_tokens, revocations, tickets, activity, clock, attempts } =
            ports;
        Self {
            users,
            hasher,
            tokens,
            refresh_tokens,
            revocations,
            tickets,
            activity,
            clock,
            attempts,
            refresh_ttl,
            limits,
        }
    }

    /// Forgets an attempt that ended without a verdict. A failure here is only
    /// logged: the error the caller gets is the one that ended the attempt.
    async fn forget(&self, attempt: AttemptId) {
        if let Err(e) = self.attempts.forget(attempt).await {
            tracing::warn!(error = %e, "could not forget an attempt without verdict");
        }
    }

    /// Creates an account. `caller` is the signed-in user, if any: only an admin
    /// may set `role`. `client` is the address the request came from: each may
    /// register a limited number of accounts per window.
    ///
    /// # Errors
    /// `Forbidden` when a non-admin sets a role, `TooManyAttempts` when `client`
    /// has used up its registrations (nothing is hashed then), `Conflict` when
    /// the username or e-mail is taken in any letter case, `Busy` when the
    /// password hasher is saturated, `Unavailable` or `Unknown` when a dependency fails.
    pub async fn register(
        &self,
        command: RegisterCommand,
        caller: Option<&AccessClaims>,
        client: IpAddr,
    ) -> Result<User, ApplicationError> {
        if command.role.is_some() {
            let caller_is_admin = match caller {
                Some(claims) => is_admin(self.users.as_ref(), claims.user_id).await?,
                None => false,
            };
            if !caller_is_admin {
                return Err(ApplicationError::Forbidden("only an admin may choose a role"));
            }
        }
        let attempt =
            match self.attempts.begin_registration(client, &self.limits.registration, self.clock.now()).await? {
                Admission::Admitted(attempt) => attempt,
                Admission::Refused { retry_after } => {
                    return Err(ApplicationError::TooManyAttempts { retry_after_seconds: seconds_until(retry_after) });
                }
            };
        // A taken username still counts: probing names is what the limit is for.
        let created = self.create(command).await;
        if let Err(e) = &created
            && is_without_verdict(e)
        {
            self.forget(attempt).await;
        }
        created
    }

    async fn create(&self, command: RegisterCommand) -> Result<User, ApplicationError> {
        let password_hash = self.hasher.hash(command.password).await?;
        let user = NewUser {
            id: UserId::generate(),
            username: command.username,
            email: command.email,
            password_hash,
            role: command.role.unwrap_or(Role::User),
            created_at: self.clock.now(),
        };
        Ok(self.users.insert(user).await?)
    }

    /// Signs in from `client`. An unknown username and a wrong password fail
    /// alike, after the same amount of hashing work. Too many failures for the
    /// username from `client`, or from `client` altogether, are refused before
    /// any hashing; a success clears the username's failures from `client`.
    ///
    /// # Errors
    /// `TooManyAttempts` while a limit is reached, `Unauthorized(InvalidCredentials)`
    /// on a bad pair, `Busy` when the password hasher is saturated,
    /// `Unavailable` or `Unknown` when a dependency fails.
    pub async fn login(&self, username: &str, password: &str, client: IpAddr) -> Result<Tokens, ApplicationError> {
        let counted = counted_name(username);
        let attempt = match self.attempts.begin_login(&counted, client, &self.limits.login, self.clock.now()).await? {
            Admission::Admitted(attempt) => attempt,
            Admission::Refused { retry_after } => {
                return Err(ApplicationError::TooManyAttempts { retry_after_seconds: seconds_until(retry_after) });
            }
        };
        match self.check_credentials(username, password).await {
            Ok(user) => {
                // The user is in: a failure to reset the count only leaves them fewer tries later.
                if let Err(e) = self.attempts.clear_logins(&counted, client).await {
                    tracing::warn!(error = %e, "could not clear the login failures");
                }
                self.start_family(&user).await
            }
            Err(e) => {
                if is_without_verdict(&e) {
                    self.forget(attempt).await;
                }
                Err(e)
            }
        }
    }

    /// The user whose credentials these are, after exactly one verification.
    async fn check_credentials(&self, username: &str, password: &str) -> Result<User, ApplicationError> {
        let candidate = Password::new(password).ok();
        let credentials = match Username::new(username) {
            Ok(name) => self.users.find_credentials(name.as_str()).await?,
            Err(_) => None,
        };
        let (user, hash) = match credentials {
            Some(found) => (Some(found.user), Some(found.password_hash)),
            None => (None, None),
        };
        let verified = self.hasher.verify(candidate, hash).await?;
        match user {
            Some(user) if verified => Ok(user),
            _ => Err(ApplicationError::Unauthorized(AuthFailure::InvalidCredentials)),
        }
    }

    /// Trades a refresh token for a new pair. The presented token is spent; if it
    /// was already spent, the whole family is revoked. No password hashing is
    /// involved (refresh tokens are random and stored as SHA-256 digests), so
    /// neither the hasher's saturation nor the login limits apply.
    ///
    /// # Errors
    /// `Unauthorized(InvalidRefreshToken | RefreshTokenReused)`, or `Unknown`.
    pub async fn refresh(&self, presented: &str) -> Result<Tokens, ApplicationError> {
        match self.refresh_tokens.rotate(presented, self.clock.now()).await? {
            RefreshOutcome::Rotated { user_id, family } => {
                let user = self
                    .users
                    .find(user_id)
                    .await?
                    .ok_or(ApplicationError::Unauthorized(AuthFailure::InvalidRefreshToken))?;
                self.issue_pair(&user, family).await
            }
            RefreshOutcome::Reused { user_id, family } => {
                tracing::warn!(user_id = %user_id, family = %family, "refresh token reused; revoking its family");
                self.refresh_tokens.revoke_family(family).await?;
                Err(ApplicationError::Unauthorized(AuthFailure::RefreshTokenReused))
            }
            RefreshOutcome::Invalid => Err(ApplicationError::Unauthorized(AuthFailure::InvalidRefreshToken)),
        }
    }

    /// Signs out: the access token in `claims` and, if given, the refresh token
    /// (with its family) stop working at once.
    ///
    /// # Errors
    /// `Unknown` when the revocation cannot be stored.
    pub async fn logout(&self, claims: &AccessClaims, refresh_token: Option<&str>) -> Result<(), ApplicationError> {
        self.revocations.revoke_token(claims.token_id, claims.expires_at).await?;
        if let Some(presented) = refresh_token {
            self.refresh_tokens.revoke_presented(presented, claims.user_id).await?;
        }
        Ok(())
    }

    /// Checks an access token: signature, expiry and revocation, and notes the
    /// caller's activity. No I/O.
    ///
    /// # Errors
    /// `Unauthorized(InvalidToken | TokenExpired | TokenRevoked)`.
    pub fn authenticate(&self, token: &str) -> Result<AccessClaims, ApplicationError> {
        let claims = self.tokens.verify(token).map_err(ApplicationError::Unauthorized)?;
        if self.revocations.is_revoked(&claims) {
            return Err(ApplicationError::Unauthorized(AuthFailure::TokenRevoked));
        }
        self.activity.record(claims.user_id, self.clock.now());
        Ok(claims)
    }

    /// A single-use ticket, valid 30 s, that stands for the caller's access
    /// token on a WebSocket upgrade. Returns the ticket and its lifetime in seconds.
    ///
    /// # Errors
    /// `Unknown` when the ticket cannot be stored.
    pub async fn ws_ticket(&self, claims: &AccessClaims) -> Result<(String, i64), ApplicationError> {
        let ticket = self.tickets.issue(claims, self.clock.now() + TICKET_TTL).await?;
        Ok((ticket, TICKET_TTL.num_seconds()))
    }

    /// Spends a ticket and answers the claims of the token it stands for.
    ///
    /// # Errors
    /// `Unauthorized(InvalidToken)` for an unknown, used or expired ticket;
    /// `TokenExpired` or `TokenRevoked` when its token no longer works.
    pub async fn authenticate_ticket(&self, ticket: &str) -> Result<AccessClaims, ApplicationError> {
        let now = self.clock.now();
        let claims =
            self.tickets.redeem(ticket, now).await?.ok_or(ApplicationError::Unauthorized(AuthFailure::InvalidToken))?;
        if claims.expires_at <= now {
            return Err(ApplicationError::Unauthorized(AuthFailure::TokenExpired));
        }
        if self.revocations.is_revoked(&claims) {
            return Err(ApplicationError::Unauthorized(AuthFailure::TokenRevoked));
        }
        Ok(claims)
    }

    async fn start_family(&self, user: &User) -> Result<Tokens, ApplicationError> {
        self.issue_pair(user, Uuid::now_v7()).await
    }

    async fn issue_pair(&self, user: &User, family: Uuid) -> Result<Tokens, ApplicationError> {
        let access = self.tokens.issue(user.id, user.role)?;
        let refresh_token = self.refresh_tokens.issue(user.id, family, self.clock.now() + self.refresh_ttl).await?;
        Ok(Tokens {
            access_token: access.token,
            expires_in: self.tokens.ttl().num_seconds(),
            refresh_token,
            refresh_expires_in: self.refresh_ttl.num_seconds(),
        })
    }
}
