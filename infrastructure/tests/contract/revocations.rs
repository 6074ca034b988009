//! The revocation store contract, and the cache built on either store.

use application::ports::{AccessClaims, RevocationList};
use chrono::{Duration, Utc};
use domain::{Role, UserId};
use infrastructure::persistence::PgRevocationStore;
use infrastructure::persistence::outbox::Outbox;
use infrastructure::persistence::sqlite::SqliteRevocationStore;
use infrastructure::security::{RevocationCache, RevocationStore, RevokedSnapshot};
use std::sync::Arc;
use uuid::Uuid;

use crate::accounts::{events, micros};
use crate::support::{Backend, backends};

fn store(backend: &Backend) -> Arc<dyn RevocationStore> {
    match backend {
        Backend::Postgres(pool) => Arc::new(PgRevocationStore::new(pool.handle(), Outbox::default())),
        Backend::Sqlite(db) => Arc::new(SqliteRevocationStore::new(db.clone(), Outbox::default())),
    }
}

fn sorted(mut pairs: Vec<(Uuid, chrono::DateTime<Utc>)>) -> Vec<(Uuid, chrono::DateTime<Utc>)> {
    pairs.sort();
    pairs
}

fn ids(snapshot: &RevokedSnapshot) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut tokens: Vec<_> = snapshot.tokens.iter().map(|(id, _)| *id).collect();
    let mut users: Vec<_> = snapshot.users.iter().map(|(id, _)| *id).collect();
    tokens.sort();
    users.sort();
    (tokens, users)
}

#[tokio::test]
async fn live_revocations_load_with_their_expiry_and_each_write_is_an_event() {
    for backend in backends().await {
        let store = store(&backend);
        let now = micros(Utc::now());
        let (token, old_token, user) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        store.save_token(token, now + Duration::minutes(15)).await.unwrap();
        store.save_token(token, now + Duration::minutes(15)).await.unwrap();
        store.save_token(old_token, now - Duration::minutes(1)).await.unwrap();
        store.save_user(user, now + Duration::minutes(5)).await.unwrap();
        // A second revocation of the same user moves the expiry.
        store.save_user(user, now + Duration::minutes(15)).await.unwrap();

        let live = store.load_live(now).await.unwrap();
        assert_eq!(sorted(live.tokens), [(token, now + Duration::minutes(15))], "{}", backend.name());
        assert_eq!(sorted(live.users), [(user, now + Duration::minutes(15))], "{}", backend.name());
        assert_eq!(events(&backend, "auth.revoked").await, 3, "{}", backend.name());
        assert_eq!(events(&backend, "user.deleted").await, 2, "{}", backend.name());

        store.purge_expired(now).await.unwrap();
        let everything = store.load_live(now - Duration::days(1)).await.unwrap();
        assert_eq!(ids(&everything), (vec![token], vec![user]), "{}: the expired one is gone", backend.name());
    }
}

#[tokio::test]
async fn written_since_returns_what_was_written_after_the_previous_look() {
    for backend in backends().await {
        let store = store(&backend);
        let start = Utc::now() - Duration::seconds(5);
        let expiry = micros(Utc::now() + Duration::minutes(15));
        let (first, user) = (Uuid::now_v7(), Uuid::now_v7());
        store.save_token(first, expiry).await.unwrap();
        store.save_user(user, expiry).await.unwrap();

        let (seen, watermark) = store.written_since(start).await.unwrap();
        assert_eq!(ids(&seen), (vec![first], vec![user]), "{}", backend.name());
        assert_eq!(seen.tokens, [(first, expiry)]);

        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let second = Uuid::now_v7();
        store.save_token(second, expiry).await.unwrap();
        let (fresh, next) = store.written_since(watermark).await.unwrap();
        assert_eq!(ids(&fresh), (vec![second], vec![]), "{}: only the new one", backend.name());
        assert!(next >= watermark, "{}", backend.name());
        let (nothing, _) = store.written_since(next + Duration::seconds(1)).await.unwrap();
        assert_eq!(ids(&nothing), (vec![], vec![]), "{}", backend.name());
    }
}

#[tokio::test]
async fn the_cache_loads_from_either_store_and_answers_from_memory() {
    for backend in backends().await {
        let store = store(&backend);
        let now = Utc::now();
        let (earlier, later) = (Uuid::now_v7(), Uuid::now_v7());
        store.save_token(earlier, now + Duration::minutes(15)).await.unwrap();
        let cache = RevocationCache::load_shared(Arc::clone(&store)).await.unwrap();
        let claims = |token_id, user_id| AccessClaims {
            user_id,
            role: Role::User,
            token_id,
            issued_at: now,
            expires_at: now + Duration::minutes(15),
        };
        let someone = UserId::from_uuid(Uuid::now_v7());
        assert!(cache.is_revoked(&claims(earlier, someone)), "{}: loaded at start", backend.name());
        assert!(!cache.is_revoked(&claims(later, someone)), "{}", backend.name());
        cache.revoke_token(later, now + Duration::minutes(15)).await.unwrap();
        assert!(cache.is_revoked(&claims(later, someone)), "{}", backend.name());
        let deleted = UserId::from_uuid(Uuid::now_v7());
        cache.revoke_user(deleted, now + Duration::minutes(15)).await.unwrap();
        assert!(cache.is_revoked(&claims(Uuid::now_v7(), deleted)), "{}", backend.name());
        let stored = store.load_live(now).await.unwrap();
        assert_eq!(ids(&stored), (sorted_ids(&[earlier, later]), vec![*deleted.as_uuid()]), "{}", backend.name());
    }
}

fn sorted_ids(ids: &[Uuid]) -> Vec<Uuid> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}
