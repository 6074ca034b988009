//! Password hashing, access tokens and the revocation list.

mod jwt;
mod password;
mod revocation;

pub use jwt::JwtTokenIssuer;
pub use password::{Argon2Hasher, HashPoolSize};
pub use revocation::{RevocationCache, RevocationStore, RevokedSnapshot};
