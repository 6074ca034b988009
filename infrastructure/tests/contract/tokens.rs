//! The `RefreshTokenStore` and `TicketStore` contracts.

use application::ports::{AccessClaims, RefreshOutcome, RefreshTokenStore, TicketStore, UserRepository};
use chrono::{Duration, Utc};
use domain::{Role, User};
use futures::future::join_all;
use infrastructure::persistence::sqlite::{SqliteRefreshTokenStore, SqliteTicketStore, SqliteUserRepository};
use infrastructure::persistence::{PgRefreshTokenStore, PgTicketStore, PgUserRepository};
use std::sync::Arc;
use uuid::Uuid;

use crate::accounts::{micros, new_user};
use crate::support::{Backend, backends};

struct Stores {
    tokens: Arc<dyn RefreshTokenStore>,
    tickets: Arc<dyn TicketStore>,
    users: Arc<dyn UserRepository>,
}

fn stores(backend: &Backend) -> Stores {
    match backend {
        Backend::Postgres(pool) => Stores {
            tokens: Arc::new(PgRefreshTokenStore::new(pool.handle())),
            tickets: Arc::new(PgTicketStore::new(pool.handle())),
            users: Arc::new(PgUserRepository::new(pool.handle())),
        },
        Backend::Sqlite(db) => Stores {
            tokens: Arc::new(SqliteRefreshTokenStore::new(db.clone())),
            tickets: Arc::new(SqliteTicketStore::new(db.clone())),
            users: Arc::new(SqliteUserRepository::new(db.clone())),
        },
    }
}

async fn user(stores: &Stores, name: &str) -> User {
    stores.users.insert(new_user(name, None)).await.unwrap()
}

#[tokio::test]
async fn a_refresh_token_rotates_once_and_a_replay_is_reported_with_its_family() {
    for backend in backends().await {
        let stores = stores(&backend);
        let erin = user(&stores, "erin").await;
        let (family, now) = (Uuid::now_v7(), Utc::now());
        let first = stores.tokens.issue(erin.id, family, now + Duration::days(1)).await.unwrap();
        assert_eq!(first.len(), 64, "{}: 32 random bytes in hex", backend.name());

        let rotated = stores.tokens.rotate(&first, now).await.unwrap();
        assert_eq!(rotated, RefreshOutcome::Rotated { user_id: erin.id, family }, "{}", backend.name());
        let replayed = stores.tokens.rotate(&first, now).await.unwrap();
        assert_eq!(replayed, RefreshOutcome::Reused { user_id: erin.id, family }, "{}", backend.name());

        // The use case answers a replay by revoking the family: the successor dies too.
        let second = stores.tokens.issue(erin.id, family, now + Duration::days(1)).await.unwrap();
        let other_family = Uuid::now_v7();
        let elsewhere = stores.tokens.issue(erin.id, other_family, now + Duration::days(1)).await.unwrap();
        stores.tokens.revoke_family(family).await.unwrap();
        assert_eq!(stores.tokens.rotate(&second, now).await.unwrap(), RefreshOutcome::Invalid, "{}", backend.name());
        assert_eq!(stores.tokens.rotate(&first, now).await.unwrap(), RefreshOutcome::Invalid, "{}", backend.name());
        let untouched = stores.tokens.rotate(&elsewhere, now).await.unwrap();
        assert_eq!(untouched, RefreshOutcome::Rotated { user_id: erin.id, family: other_family });

        assert_eq!(stores.tokens.rotate("not-a-token", now).await.unwrap(), RefreshOutcome::Invalid);
        let expiring = stores.tokens.issue(erin.id, Uuid::now_v7(), now + Duration::seconds(10)).await.unwrap();
        let later = now + Duration::seconds(10);
        assert_eq!(
            stores.tokens.rotate(&expiring, later).await.unwrap(),
            RefreshOutcome::Invalid,
            "{}",
            backend.name()
        );
    }
}

#[tokio::test]
async fn of_concurrent_rotations_of_one_token_exactly_one_succeeds() {
    for backend in backends().await {
        let stores = stores(&backend);
        let finn = user(&stores, "finn").await;
        let now = Utc::now();
        let token = stores.tokens.issue(finn.id, Uuid::now_v7(), now + Duration::days(1)).await.unwrap();
        let outcomes = join_all((0..8).map(|_| stores.tokens.rotate(&token, now))).await;
        let rotated = outcomes.iter().filter(|o| matches!(o, Ok(RefreshOutcome::Rotated { .. }))).count();
        let reused = outcomes.iter().filter(|o| matches!(o, Ok(RefreshOutcome::Reused { .. }))).count();
        assert_eq!((rotated, reused), (1, 7), "{}", backend.name());
    }
}

#[tokio::test]
async fn a_presented_token_revokes_its_family_only_for_its_owner() {
    for backend in backends().await {
        let stores = stores(&backend);
        let (gail, hugo) = (user(&stores, "gail").await, user(&stores, "hugo").await);
        let (family, now) = (Uuid::now_v7(), Utc::now());
        let token = stores.tokens.issue(gail.id, family, now + Duration::days(1)).await.unwrap();
        let sibling = stores.tokens.issue(gail.id, family, now + Duration::days(1)).await.unwrap();

        stores.tokens.revoke_presented(&token, hugo.id).await.unwrap();
        assert!(matches!(stores.tokens.rotate(&sibling, now).await.unwrap(), RefreshOutcome::Rotated { .. }));
        stores.tokens.revoke_presented(&token, gail.id).await.unwrap();
        assert_eq!(stores.tokens.rotate(&token, now).await.unwrap(), RefreshOutcome::Invalid, "{}", backend.name());
        stores.tokens.revoke_presented("unknown", gail.id).await.unwrap();
    }
}

fn claims(user: &User, now: chrono::DateTime<Utc>) -> AccessClaims {
    AccessClaims {
        user_id: user.id,
        role: Role::Admin,
        token_id: Uuid::now_v7(),
        issued_at: micros(now),
        expires_at: micros(now + Duration::minutes(15)),
    }
}

#[tokio::test]
async fn a_ticket_is_redeemed_once_before_it_expires() {
    for backend in backends().await {
        let stores = stores(&backend);
        let ivy = user(&stores, "ivy").await;
        let now = micros(Utc::now());
        let claims = claims(&ivy, now);
        let ticket = stores.tickets.issue(&claims, now + Duration::seconds(30)).await.unwrap();

        let redeemed = stores.tickets.redeem(&ticket, now + Duration::seconds(1)).await.unwrap().unwrap();
        assert_eq!(
            (redeemed.user_id, redeemed.role, redeemed.token_id, redeemed.expires_at),
            (claims.user_id, claims.role, claims.token_id, claims.expires_at),
            "{}",
            backend.name()
        );
        assert!(stores.tickets.redeem(&ticket, now).await.unwrap().is_none(), "{}: single use", backend.name());

        let late = stores.tickets.issue(&claims, now + Duration::seconds(30)).await.unwrap();
        let expired = stores.tickets.redeem(&late, now + Duration::seconds(30)).await.unwrap();
        assert!(expired.is_none(), "{}: expired", backend.name());
        assert!(stores.tickets.redeem("never-issued", now).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn of_concurrent_redemptions_of_one_ticket_exactly_one_succeeds() {
    for backend in backends().await {
        let stores = stores(&backend);
        let jo = user(&stores, "jojo").await;
        let now = Utc::now();
        let ticket = stores.tickets.issue(&claims(&jo, now), now + Duration::seconds(30)).await.unwrap();
        let redeemed = join_all((0..8).map(|_| stores.tickets.redeem(&ticket, now))).await;
        let granted = redeemed.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        assert_eq!(granted, 1, "{}", backend.name());
    }
}
