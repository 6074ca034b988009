use domain::{Password, Role, User, UserId, Username};
use std::sync::Arc;

use crate::ports::{
    AccessClaims, AvatarError, AvatarStorage, Clock, NewUser, PasswordHasher, Profile, RevocationList, TokenIssuer,
    UserChanges, UserPage, UserRepository,
};
use crate::{ApplicationError, AuthFailure};

/// What bootstrapping an admin account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminBootstrap {
    Created(User),
    /// A user with that name exists; it was left untouched.
    AlreadyExists {
        is_admin: bool,
    },
}

/// Account, profile and administration use cases.
pub struct UserService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    revocations: Arc<dyn RevocationList>,
    avatars: Arc<dyn AvatarStorage>,
    clock: Arc<dyn Clock>,
}

/// The ports of [`UserService`].
pub struct UserPorts {
    pub users: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub revocations: Arc<dyn RevocationList>,
    pub avatars: Arc<dyn AvatarStorage>,
    pub clock: Arc<dyn Clock>,
}

/// The most users one admin list page returns.
pub const MAX_PAGE: u32 = 100;

impl UserService {
    #[must_use]
    pub fn new(ports: UserPorts) -> Self {
        let UserPorts { users, hasher, tokens, revocations, avatars, clock } = ports;
        Self { users, hasher, tokens, revocations, avatars, clock }
    }

    /// The caller's own account.
    ///
    /// # Errors
    /// `Unauthorized(TokenRevoked)` if the account is gone, or `Unknown`.
    pub async fn me(&self, caller: &AccessClaims) -> Result<User, ApplicationError> {
        self.users.find(caller.user_id).await?.ok_or_else(account_gone)
    }

    /// Changes the caller's username, e-mail, display name or bio.
    ///
    /// # Errors
    /// `Conflict` when the new username or e-mail is taken, `Unauthorized(TokenRevoked)` if
    /// the account is gone, or `Unknown`.
    pub async fn update(&self, caller: &AccessClaims, changes: UserChanges) -> Result<User, ApplicationError> {
        if changes.is_empty() {
            return self.me(caller).await;
        }
        self.users.update(caller.user_id, changes).await?.ok_or_else(account_gone)
    }

    /// Deletes the caller's account with everything it owns; every token of the
    /// account stops working at once.
    ///
    /// # Errors
    /// `Unauthorized(TokenRevoked)` if already gone, or `Unknown`.
    pub async fn delete(&self, caller: &AccessClaims) -> Result<(), ApplicationError> {
        let avatar = self.me(caller).await?.avatar;
        if !self.users.delete(caller.user_id).await? {
            return Err(account_gone());
        }
        let until = self.clock.now() + self.tokens.ttl();
        self.revocations.revoke_user(caller.user_id, until).await?;
        if let Some(key) = avatar {
            self.forget_avatar(&key).await;
        }
        Ok(())
    }

    /// Replaces the caller's avatar with `image`; the old file is removed.
    ///
    /// # Errors
    /// `UnsupportedMedia` unless the bytes are a PNG, JPEG, WebP or GIF image,
    /// `Unauthorized(TokenRevoked)` if the account is gone, or `Unknown`.
    pub async fn set_avatar(&self, caller: &AccessClaims, image: Vec<u8>) -> Result<User, ApplicationError> {
        let key = self.avatars.store(caller.user_id, image).await.map_err(|e| match e {
            AvatarError::Unsupported(why) => ApplicationError::UnsupportedMedia(why),
            AvatarError::TooManyPixels(why) => ApplicationError::invalid("file", why),
            AvatarError::Busy => ApplicationError::Busy,
            AvatarError::Unknown(cause) => ApplicationError::Unknown(cause),
        })?;
        match self.users.set_avatar(caller.user_id, Some(key.clone())).await {
            Ok(Some((user, replaced))) => {
                if let Some(old) = replaced {
                    self.forget_avatar(&old).await;
                }
                Ok(user)
            }
            Ok(None) => {
                self.forget_avatar(&key).await;
                Err(account_gone())
            }
            Err(e) => {
                self.forget_avatar(&key).await;
                Err(e.into())
            }
        }
    }

    /// A file left behind wastes space but harms no one: log and go on.
    async fn forget_avatar(&self, key: &str) {
        if let Err(e) = self.avatars.delete(key).await {
            tracing::warn!(key, error = %e, "could not remove an avatar file");
        }
    }

    /// Anyone's public profile.
    ///
    /// # Errors
    /// `NotFound("user")`, or `Unknown`.
    pub async fn profile(&self, caller: &AccessClaims, id: UserId) -> Result<Profile, ApplicationError> {
        self.users.profile(id, caller.user_id).await?.ok_or(ApplicationError::NotFound("user"))
    }

    /// A public profile found by username, in any letter case.
    ///
    /// # Errors
    /// `NotFound("user")` (also for a string that cannot be a username), or `Unknown`.
    pub async fn lookup(&self, caller: &AccessClaims, username: &str) -> Result<Profile, ApplicationError> {
        let Ok(username) = Username::new(username) else {
            return Err(ApplicationError::NotFound("user"));
        };
        self.users.profile_by_username(&username, caller.user_id).await?.ok_or(ApplicationError::NotFound("user"))
    }

    /// Admin: every user, by username, optionally filtered by username prefix.
    ///
    /// # Errors
    /// `Forbidden` for a non-admin, `Validation` for a limit outside 1..=100, or `Unknown`.
    pub async fn list(
        &self,
        caller: &AccessClaims,
        prefix: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<UserPage, ApplicationError> {
        self.require_admin(caller).await?;
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApplicationError::invalid("limit", format!("must be between 1 and {MAX_PAGE}")));
        }
        let prefix = prefix.map(str::trim).filter(|p| !p.is_empty());
        Ok(self.users.list(prefix, limit, offset).await?)
    }

    /// Admin: makes `id` a user or an admin. An admin cannot change their own
    /// role, so that the last admin cannot lock everyone out by mistake.
    ///
    /// # Errors
    /// `Forbidden` for a non-admin, `Validation` on one's own role, `NotFound("user")`, or `Unknown`.
    pub async fn change_role(&self, caller: &AccessClaims, id: UserId, role: Role) -> Result<User, ApplicationError> {
        self.require_admin(caller).await?;
        if id == caller.user_id {
            return Err(ApplicationError::invalid("role", "an admin cannot change their own role"));
        }
        self.users.set_role(id, role).await?.ok_or(ApplicationError::NotFound("user"))
    }

    /// Creates an admin account unless the username is taken; an existing account
    /// is never overwritten.
    ///
    /// # Errors
    /// `Conflict(EmailTaken)` cannot happen (no e-mail is set); `Unknown` when a dependency fails.
    pub async fn bootstrap_admin(
        &self,
        username: Username,
        password: Password,
    ) -> Result<AdminBootstrap, ApplicationError> {
        if let Some(existing) = self.users.find_credentials(username.as_str()).await? {
            return Ok(AdminBootstrap::AlreadyExists { is_admin: existing.user.role.is_admin() });
        }
        let password_hash = self.hasher.hash(password).await?;
        let admin = NewUser {
            id: UserId::generate(),
            username,
            email: None,
            password_hash,
            role: Role::Admin,
            created_at: self.clock.now(),
        };
        let name = admin.username.clone();
        match self.users.insert(admin).await {
            Ok(user) => Ok(AdminBootstrap::Created(user)),
            // Another instance took the name between our read and our write.
            Err(crate::PortError::Conflict(_)) => {
                let winner = self.users.find_credentials(name.as_str()).await?;
                Ok(AdminBootstrap::AlreadyExists { is_admin: winner.is_some_and(|w| w.user.role.is_admin()) })
            }
            Err(other) => Err(other.into()),
        }
    }

    async fn require_admin(&self, caller: &AccessClaims) -> Result<(), ApplicationError> {
        require_admin(self.users.as_ref(), caller).await
    }
}

/// The caller's own account is gone: their token belongs to a deleted user, which is
/// refused like any revoked token. Another instance may not have heard of the deletion
/// yet (the revocation reaches it through the broker or its next poll), but the missing
/// row already tells, so the caller is never told that they themself were not found.
pub(crate) fn account_gone() -> ApplicationError {
    ApplicationError::Unauthorized(AuthFailure::TokenRevoked)
}

/// Whether `user` is an admin now (the stored role, not a token's claim).
pub(crate) async fn is_admin(users: &dyn UserRepository, user: UserId) -> Result<bool, crate::PortError> {
    Ok(users.find(user).await?.is_some_and(|u| u.role.is_admin()))
}

/// Authorization reads the current role from storage, not the token's claim,
/// so a demoted admin loses their rights at once.
pub(crate) async fn require_admin(users: &dyn UserRepository, caller: &AccessClaims) -> Result<(), ApplicationError> {
    match users.find(caller.user_id).await? {
        Some(user) if user.role.is_admin() => Ok(()),
        Some(_) => Err(ApplicationError::Forbidden("admin only")),
        None => Err(account_gone()),
    }
}
