//! The core of the social network: entities and validated value objects.
//!
//! Nothing here performs I/O or knows a framework: once a value of one of these
//! types exists, it is valid, and no layer above needs to check it again.

pub mod user;

pub use user::{
    Bio, BioError, DisplayName, DisplayNameError, Email, EmailError, Password, PasswordError, Role, RoleError, User,
    UserId, Username, UsernameError,
};
