//! Validated value objects of a user. Each constructor is the only way in.

use std::fmt;

use crate::text::{ContainsNul, storable};

/// 3–30 characters of `[A-Za-z0-9_]`. Case is kept as typed; uniqueness is
/// case-insensitive, which the repository enforces.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("must be between {min} and {max} characters", min = Username::MIN, max = Username::MAX)]
    Length,
    #[error("may contain only letters A-Z, digits and underscores")]
    Charset,
}

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 30;

    /// # Errors
    /// `Length` or `Charset` when `raw` breaks the rule.
    pub fn new(raw: &str) -> Result<Self, UsernameError> {
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(UsernameError::Charset);
        }
        if !(Self::MIN..=Self::MAX).contains(&raw.len()) {
            return Err(UsernameError::Length);
        }
        Ok(Self(raw.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address: at most 254 characters, one `@`, a plausible local part
/// and a dotted domain. Deliverability is not this type's business.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be at most {max} characters", max = Email::MAX)]
    TooLong,
    #[error("is not a valid e-mail address")]
    Invalid,
}

impl Email {
    pub const MAX: usize = 254;

    /// # Errors
    /// `TooLong` past 254 characters, `Invalid` when it is not shaped like an address.
    pub fn new(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.chars().count() > Self::MAX {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = raw.split_once('@').ok_or(EmailError::Invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok { Ok(Self(raw.to_owned())) } else { Err(EmailError::Invalid) }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plain-text password on its way to the hasher: 8–128 characters.
/// Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be between {min} and {max} characters", min = Password::MIN, max = Password::MAX)]
    Length,
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    /// # Errors
    /// `Length` outside 8–128 characters.
    pub fn new(raw: &str) -> Result<Self, PasswordError> {
        if (Self::MIN..=Self::MAX).contains(&raw.chars().count()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(PasswordError::Length)
        }
    }

    /// The secret itself, for the hasher only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The name shown instead of the username: at most 50 characters, trimmed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("must be at most {max} characters", max = DisplayName::MAX)]
    TooLong,
    #[error(transparent)]
    Nul(#[from] ContainsNul),
}

impl DisplayName {
    pub const MAX: usize = 50;

    /// # Errors
    /// `TooLong` past 50 characters, `Nul` for a NUL character.
    pub fn new(raw: &str) -> Result<Self, DisplayNameError> {
        bounded(storable(raw)?, Self::MAX).map(Self).ok_or(DisplayNameError::TooLong)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short self-description: at most 160 characters, trimmed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bio(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BioError {
    #[error("must be at most {max} characters", max = Bio::MAX)]
    TooLong,
    #[error(transparent)]
    Nul(#[from] ContainsNul),
}

impl Bio {
    pub const MAX: usize = 160;

    /// # Errors
    /// `TooLong` past 160 characters, `Nul` for a NUL character.
    pub fn new(raw: &str) -> Result<Self, BioError> {
        bounded(storable(raw)?, Self::MAX).map(Self).ok_or(BioError::TooLong)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trims `raw` and keeps it if it has at most `max` Unicode scalar values.
fn bounded(raw: &str, max: usize) -> Option<String> {
    let trimmed = raw.trim();
    (trimmed.chars().count() <= max).then(|| trimmed.to_owned())
}

macro_rules! debug_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }
    )*};
}
debug_as_str!(Username, Email, DisplayName, Bio);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_accepts_ascii_word_characters_within_bounds() {
        assert!(Username::new("abc").is_ok());
        assert!(Username::new("Alice_Smith_99").is_ok());
        assert!(Username::new(&"a".repeat(30)).is_ok());
    }

    #[test]
    fn username_rejects_wrong_length_and_foreign_characters() {
        assert_eq!(Username::new("ab"), Err(UsernameError::Length));
        assert_eq!(Username::new(&"a".repeat(31)), Err(UsernameError::Length));
        assert_eq!(Username::new("bad name"), Err(UsernameError::Charset));
        assert_eq!(Username::new("émile"), Err(UsernameError::Charset));
        assert_eq!(Username::new("a-b-c"), Err(UsernameError::Charset));
    }

    #[test]
    fn email_accepts_ordinary_addresses() {
        assert!(Email::new("alice@example.com").is_ok());
        assert!(Email::new("a.b+tag@mail.example.org").is_ok());
    }

    #[test]
    fn email_rejects_malformed_or_overlong_addresses() {
        for bad in ["", "alice", "@example.com", "alice@", "alice@localhost", "a b@x.io", "a@@x.io", "a@x..io"] {
            assert_eq!(Email::new(bad), Err(EmailError::Invalid), "{bad}");
        }
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        assert_eq!(Email::new(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        assert!(Password::new("ééééééé").is_err());
        assert!(Password::new("éééééééé").is_ok());
        assert!(Password::new(&"x".repeat(128)).is_ok());
        assert_eq!(Password::new(&"x".repeat(129)).err(), Some(PasswordError::Length));
    }

    #[test]
    fn password_debug_hides_the_secret() {
        let password = Password::new("hunter22hunter22").unwrap();
        assert!(!format!("{password:?}").contains("hunter22"));
    }

    #[test]
    fn display_name_and_bio_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::new("  Alice  ").unwrap().as_str(), "Alice");
        assert!(DisplayName::new(&"é".repeat(50)).is_ok());
        assert_eq!(DisplayName::new(&"é".repeat(51)), Err(DisplayNameError::TooLong));
        assert!(Bio::new(&"b".repeat(160)).is_ok());
        assert_eq!(Bio::new(&"b".repeat(161)), Err(BioError::TooLong));
    }

    #[test]
    fn display_name_and_bio_refuse_a_nul_character() {
        assert_eq!(DisplayName::new("Al\0ice"), Err(DisplayNameError::Nul(ContainsNul)));
        assert_eq!(Bio::new("\0"), Err(BioError::Nul(ContainsNul)));
        assert_eq!(BioError::Nul(ContainsNul).to_string(), "must not contain a NUL character (U+0000)");
    }

    #[test]
    fn username_and_email_refuse_a_nul_character() {
        assert_eq!(Username::new("ali\0ce"), Err(UsernameError::Charset));
        assert_eq!(Email::new("alice\0@example.com"), Err(EmailError::Invalid));
        assert_eq!(Email::new("alice@exam\0ple.com"), Err(EmailError::Invalid));
    }
}
