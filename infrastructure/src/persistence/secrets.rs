//! Secret tokens handed to clients (refresh tokens, WebSocket tickets,
//! webhook secrets): made here, stored by every backend as the same digest,
//! so a database leak gives no usable token.

use application::PortError;
use application::ports::AccessClaims;
use chrono::{DateTime, Utc};
use domain::UserId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

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

/// A redeemed WebSocket ticket as stored: user, role, access token id, access
/// token expiry, ticket expiry.
pub(crate) type StoredTicket = (Uuid, String, Uuid, DateTime<Utc>, DateTime<Utc>);

/// The claims a redeemed ticket stands for; `None` once it expired (it is
/// deleted all the same: a ticket is good for one try).
///
/// # Errors
/// `Unknown` when the stored role no longer parses.
pub(crate) fn ticket_claims(ticket: StoredTicket, now: DateTime<Utc>) -> Result<Option<AccessClaims>, PortError> {
    let (user_id, role, token_id, token_expires_at, expires_at) = ticket;
    if expires_at <= now {
        return Ok(None);
    }
    let role = role.parse().map_err(|e| PortError::Unknown(anyhow::anyhow!("stored role: {e}")))?;
    Ok(Some(AccessClaims {
        user_id: UserId::from_uuid(user_id),
        role,
        token_id,
        issued_at: now,
        expires_at: token_expires_at,
    }))
}
