//! Secret tokens handed to clients (refresh tokens, WebSocket tickets,
//! webhook secrets): made here, stored by every backend as the same digest,
//! so a database leak gives no usable token.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// 32 random bytes: guessing one is out of reach.
const TOKEN_BYTES: usize = 32;

/// What is stored of a secret token: its SHA-256.
pub(crate) fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A fresh random token, hex-encoded.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
