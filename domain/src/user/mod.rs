//! Users: identity, profile fields and roles.

mod values;

pub use values::{
    Bio, BioError, DisplayName, DisplayNameError, Email, EmailError, Password, PasswordError, Username, UsernameError,
};

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

uuid_id!(
    /// Identifies a user. UUIDv7, so ids sort by creation time.
    UserId
);

/// What a user may do beyond their own content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be \"user\" or \"admin\"")]
pub struct RoleError;

impl Role {
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    #[must_use]
    pub const fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(RoleError),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered user as the owner (or an admin) sees them.
///
/// Holds no credential: the password hash never leaves the persistence adapter
/// except through the dedicated credentials lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Option<Email>,
    pub display_name: Option<DisplayName>,
    pub bio: Option<Bio>,
    /// Storage key of the avatar image, if one was uploaded.
    pub avatar: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_parses_only_the_two_known_names() {
        assert_eq!("user".parse::<Role>(), Ok(Role::User));
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!("Admin".parse::<Role>(), Err(RoleError));
        assert_eq!("root".parse::<Role>(), Err(RoleError));
    }

    #[test]
    fn generated_user_ids_are_time_ordered_v7() {
        let first = UserId::generate();
        let second = UserId::generate();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(first < second);
    }
}
