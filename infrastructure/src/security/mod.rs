//! Password hashing, access tokens and the revocation list.

mod jwt;
mod password;
mod revocation;

pub use jwt::JwtTokenIssuer;
pub use password::Argon2Hasher;
pub use revocation::RevocationCache;
