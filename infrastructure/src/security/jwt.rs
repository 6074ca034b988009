//! HS256 access tokens with jsonwebtoken. Only HS256 is accepted: `alg: none`,
//! other algorithms and altered payloads fail signature checking.

use anyhow::anyhow;
use application::ports::{AccessClaims, IssuedAccessToken, TokenIssuer};
use application::{AuthFailure, PortError};
use chrono::{DateTime, Duration, Utc};
use domain::{Role, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shaku::Component;
use uuid::Uuid;

/// Seconds of clock skew tolerated between instances when checking `exp`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    role: String,
    jti: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
}

/// Signs and checks HS256 JWTs.
#[derive(Component)]
#[shaku(interface = crate::di::TokenIssuerPort)]
pub struct JwtTokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
}

impl JwtTokenIssuer {
    #[must_use]
    pub fn new(secret: &SecretString, issuer: &str, ttl: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            issuer: issuer.to_owned(),
            ttl,
        }
    }

    fn issue_at(&self, user_id: UserId, role: Role, issued_at: DateTime<Utc>) -> Result<IssuedAccessToken, PortError> {
        let claims =
            AccessClaims { user_id, role, token_id: Uuid::now_v7(), issued_at, expires_at: issued_at + self.ttl };
        let body = Claims {
            sub: *user_id.as_uuid(),
            role: role.as_str().to_owned(),
            jti: claims.token_id,
            iat: issued_at.timestamp(),
            exp: claims.expires_at.timestamp(),
            iss: self.issuer.clone(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &body, &self.encoding)
            .map_err(|e| PortError::Unknown(anyhow!(e).context("signing an access token")))?;
        Ok(IssuedAccessToken { token, claims })
    }
}

impl TokenIssuer for JwtTokenIssuer {
    fn issue(&self, user_id: UserId, role: Role) -> Result<IssuedAccessToken, PortError> {
        self.issue_at(user_id, role, Utc::now())
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, AuthFailure> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthFailure::TokenExpired,
            _ => AuthFailure::InvalidToken,
        })?;
        let claims = data.claims;
        let timestamp = |seconds| DateTime::from_timestamp(seconds, 0).ok_or(AuthFailure::InvalidToken);
        Ok(AccessClaims {
            user_id: UserId::from_uuid(claims.sub),
            role: claims.role.parse().map_err(|_| AuthFailure::InvalidToken)?,
            token_id: claims.jti,
            issued_at: timestamp(claims.iat)?,
            expires_at: timestamp(claims.exp)?,
        })
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &str) -> JwtTokenIssuer {
        JwtTokenIssuer::new(&SecretString::from(secret.to_owned()), "social", Duration::seconds(3600))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_token_verifies_to_its_claims() {
        let tokens = issuer(SECRET);
        let issued = tokens.issue(UserId::generate(), Role::Admin).unwrap();
        let claims = tokens.verify(&issued.token).unwrap();
        assert_eq!(claims.user_id, issued.claims.user_id);
        assert_eq!(claims.role, Role::Admin);
        assert_eq!(claims.token_id, issued.claims.token_id);
    }

    #[test]
    fn a_token_signed_with_another_key_or_issuer_is_invalid() {
        let issued = issuer("another secret another secret 00").issue(UserId::generate(), Role::User).unwrap();
        assert_eq!(issuer(SECRET).verify(&issued.token), Err(AuthFailure::InvalidToken));
        let foreign = JwtTokenIssuer::new(&SecretString::from(SECRET.to_owned()), "other", Duration::seconds(60));
        let issued = foreign.issue(UserId::generate(), Role::User).unwrap();
        assert_eq!(issuer(SECRET).verify(&issued.token), Err(AuthFailure::InvalidToken));
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let tokens = issuer(SECRET);
        let issued = tokens.issue_at(UserId::generate(), Role::User, Utc::now() - Duration::hours(2)).unwrap();
        assert_eq!(tokens.verify(&issued.token), Err(AuthFailure::TokenExpired));
    }

    #[test]
    fn garbage_is_invalid() {
        assert_eq!(issuer(SECRET).verify("not.a.jwt"), Err(AuthFailure::InvalidToken));
        assert_eq!(issuer(SECRET).verify(""), Err(AuthFailure::InvalidToken));
    }
}
