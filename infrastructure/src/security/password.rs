//! argon2id with the OWASP parameters, always on the blocking pool.

use anyhow::{Context, anyhow};
use application::PortError;
use application::ports::{PasswordHash, PasswordHasher};
use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier, Version};
use async_trait::async_trait;
use domain::Password;
use shaku::Component;
use tracing::Span;

/// OWASP: 19 MiB of memory, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Hashes with argon2id. Holds a hash of a random password so that checking an
/// unknown user costs one real verification, like checking a known one.
#[derive(Component)]
#[shaku(interface = crate::di::PasswordHasherPort)]
pub struct Argon2Hasher {
    decoy: String,
}

fn argon2() -> Result<Argon2<'static>, PortError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .map_err(|e| PortError::Unknown(anyhow!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(secret: &str) -> Result<String, PortError> {
    argon2()?
        .hash_password(secret.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PortError::Unknown(anyhow!("argon2 hashing: {e}")))
}

/// Runs `work` on the blocking pool inside the caller's span.
async fn off_the_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, PortError> {
    let span = Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .context("password hashing task")
        .map_err(PortError::Unknown)
}

impl Argon2Hasher {
    /// Spends one hash making the decoy: call once at start-up.
    ///
    /// # Errors
    /// `PortError::Unknown` if argon2 refuses its parameters.
    pub async fn new() -> Result<Self, PortError> {
        let decoy = off_the_runtime(|| hash_blocking(&uuid::Uuid::now_v7().to_string())).await??;
        Ok(Self { decoy })
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, PortError> {
        let encoded = off_the_runtime(move || hash_blocking(password.expose())).await??;
        Ok(PasswordHash::new(encoded))
    }

    async fn verify(&self, candidate: Option<Password>, hash: Option<PasswordHash>) -> Result<bool, PortError> {
        let genuine = candidate.is_some() && hash.is_some();
        let encoded = hash.map_or_else(|| self.decoy.clone(), |h| h.as_str().to_owned());
        // An impossible password is still checked (against itself or the decoy) so it takes as long.
        let secret = candidate.map_or_else(|| "not a real password".to_owned(), |p| p.expose().to_owned());
        let matches = off_the_runtime(move || -> Result<bool, PortError> {
            let Ok(parsed) = PhcHash::new(&encoded) else {
                return Ok(false);
            };
            Ok(argon2()?.verify_password(secret.as_bytes(), &parsed).is_ok())
        })
        .await??;
        Ok(genuine && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = Argon2Hasher::new().await.unwrap();
        let password = Password::new("correct horse").unwrap();
        let hash = hasher.hash(password.clone()).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(Some(password), Some(hash.clone())).await.unwrap());
        let wrong = Password::new("wrong horse").unwrap();
        assert!(!hasher.verify(Some(wrong), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn missing_halves_and_garbage_hashes_never_verify() {
        let hasher = Argon2Hasher::new().await.unwrap();
        let password = Password::new("correct horse").unwrap();
        assert!(!hasher.verify(Some(password.clone()), None).await.unwrap());
        assert!(!hasher.verify(None, Some(PasswordHash::new(hasher.decoy.clone()))).await.unwrap());
        assert!(!hasher.verify(Some(password), Some(PasswordHash::new("garbage".into()))).await.unwrap());
    }
}
