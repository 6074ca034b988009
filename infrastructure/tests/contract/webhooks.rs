//! `WebhookRepository` and the delivery pipeline's lookups (`WebhookTargets`).

use application::ports::WebhookRepository;
use chrono::{SubsecRound, Utc};
use domain::UserId;
use infrastructure::persistence::PgWebhookRepository;
use infrastructure::persistence::sqlite::SqliteWebhookRepository;
use infrastructure::webhooks::{Audience, WebhookTargets};
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

use crate::support::{Backend, backends};

/// The repository under test, and the users and follows it needs, written
/// straight to the backend's tables.
pub struct Fixture {
    pub backend: Backend,
    pub repository: Arc<dyn WebhookRepository>,
    pub targets: Arc<dyn WebhookTargets>,
}

impl Fixture {
    pub fn of(backend: Backend) -> Self {
        let (repository, targets): (Arc<dyn WebhookRepository>, Arc<dyn WebhookTargets>) = match &backend {
            Backend::Postgres(pool) => {
                let repository = Arc::new(PgWebhookRepository::new(pool.handle()));
                (repository.clone(), repository)
            }
            Backend::Sqlite(db) => {
                let repository = Arc::new(SqliteWebhookRepository::new(db.clone()));
                (repository.clone(), repository)
            }
        };
        Self { backend, repository, targets }
    }

    pub async fn user(&self, name: &str) -> UserId {
        let id = Uuid::now_v7();
        let name = name.to_owned();
        match &self.backend {
            Backend::Postgres(pool) => {
                use diesel_async::RunQueryDsl;
                let mut conn = pool.get().await.unwrap();
                diesel::sql_query("INSERT INTO users (id, username, password_hash) VALUES ($1, $2, 'x')")
                    .bind::<diesel::sql_types::Uuid, _>(id)
                    .bind::<diesel::sql_types::Text, _>(name)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            Backend::Sqlite(db) => {
                use diesel::RunQueryDsl;
                db.write("adding a user", move |conn| {
                    diesel::sql_query(
                        "INSERT INTO users (id, username, username_key, password_hash, created_at, updated_at) \
                         VALUES (?, ?, ?, 'x', 0, 0)",
                    )
                    .bind::<diesel::sql_types::Binary, _>(id.as_bytes().to_vec())
                    .bind::<diesel::sql_types::Text, _>(name.clone())
                    .bind::<diesel::sql_types::Text, _>(name.to_lowercase())
                    .execute(conn)
                })
                .await
                .unwrap();
            }
        }
        UserId::from_uuid(id)
    }

    pub async fn follow(&self, follower: UserId, followee: UserId) {
        let (id, follower, followee) = (Uuid::now_v7(), *follower.as_uuid(), *followee.as_uuid());
        match &self.backend {
            Backend::Postgres(pool) => {
                use diesel_async::RunQueryDsl;
                let mut conn = pool.get().await.unwrap();
                diesel::sql_query(
                    "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES ($1, $2, $3, now())",
                )
                .bind::<diesel::sql_types::Uuid, _>(id)
                .bind::<diesel::sql_types::Uuid, _>(follower)
                .bind::<diesel::sql_types::Uuid, _>(followee)
                .execute(&mut conn)
                .await
                .unwrap();
            }
            Backend::Sqlite(db) => {
                use diesel::RunQueryDsl;
                db.write("adding a follow", move |conn| {
                    diesel::sql_query(
                        "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES (?, ?, ?, 0)",
                    )
                    .bind::<diesel::sql_types::Binary, _>(id.as_bytes().to_vec())
                    .bind::<diesel::sql_types::Binary, _>(follower.as_bytes().to_vec())
                    .bind::<diesel::sql_types::Binary, _>(followee.as_bytes().to_vec())
                    .execute(conn)
                })
                .await
                .unwrap();
            }
        }
    }

    pub async fn delete_user(&self, user: UserId) {
        let id = *user.as_uuid();
        match &self.backend {
            Backend::Postgres(pool) => {
                use diesel_async::RunQueryDsl;
                let mut conn = pool.get().await.unwrap();
                diesel::sql_query("DELETE FROM users WHERE id = $1")
                    .bind::<diesel::sql_types::Uuid, _>(id)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            Backend::Sqlite(db) => {
                use diesel::RunQueryDsl;
                db.write("deleting a user", move |conn| {
                    diesel::sql_query("DELETE FROM users WHERE id = ?")
                        .bind::<diesel::sql_types::Binary, _>(id.as_bytes().to_vec())
                        .execute(conn)
                })
                .await
                .unwrap();
            }
        }
    }
}

async fn fixtures() -> Vec<Fixture> {
    backends().await.into_iter().map(Fixture::of).collect()
}

#[tokio::test]
async fn registration_stops_at_the_limit_and_lists_in_creation_order() {
    for fixture in fixtures().await {
        let name = fixture.backend.name();
        let (alice, bob) = (fixture.user("alice").await, fixture.user("bob").await);
        let at = Utc::now().trunc_subsecs(6);
        let mut created = Vec::new();
        for n in 0..3 {
            let url = format!("https://example.com/hook/{n}?token=t{n}");
            let webhook = fixture.repository.create(alice, &url, at, 3).await.unwrap().expect(name);
            assert_eq!((webhook.owner, webhook.url.as_str(), webhook.created_at), (alice, url.as_str(), at), "{name}");
            assert!(webhook.secret.len() == 64 && webhook.secret.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
            created.push(webhook);
        }
        assert_eq!(fixture.repository.create(alice, "https://example.com/4", at, 3).await.unwrap(), None, "{name}");
        assert_eq!(fixture.repository.list(alice).await.unwrap(), created, "{name}: oldest first, all fields");
        let secrets: HashSet<_> = created.iter().map(|w| w.secret.clone()).collect();
        assert_eq!(secrets.len(), 3, "{name}: a fresh secret each");
        // Another owner's webhooks count for them alone.
        assert!(fixture.repository.create(bob, "https://example.com/b", at, 1).await.unwrap().is_some(), "{name}");
        assert_eq!(fixture.repository.list(bob).await.unwrap().len(), 1, "{name}");
        assert_eq!(fixture.repository.list(alice).await.unwrap().len(), 3, "{name}");
    }
}

#[tokio::test]
async fn concurrent_registrations_never_pass_the_limit() {
    for fixture in fixtures().await {
        let name = fixture.backend.name();
        let alice = fixture.user("alice").await;
        let attempts = (0..20).map(|n| {
            let repository = Arc::clone(&fixture.repository);
            tokio::spawn(
                async move { repository.create(alice, &format!("https://example.com/{n}"), Utc::now(), 10).await },
            )
        });
        let outcomes = futures::future::join_all(attempts).await;
        let created = outcomes.into_iter().filter(|o| o.as_ref().unwrap().as_ref().unwrap().is_some()).count();
        assert_eq!(created, 10, "{name}");
        assert_eq!(fixture.repository.list(alice).await.unwrap().len(), 10, "{name}");
    }
}

#[tokio::test]
async fn only_the_owner_deletes_a_webhook() {
    for fixture in fixtures().await {
        let name = fixture.backend.name();
        let (alice, mallory) = (fixture.user("alice").await, fixture.user("mallory").await);
        let webhook = fixture.repository.create(alice, "https://example.com/a", Utc::now(), 10).await.unwrap().unwrap();
        assert!(!fixture.repository.delete(mallory, webhook.id).await.unwrap(), "{name}: not mallory's");
        assert_eq!(fixture.repository.list(alice).await.unwrap().len(), 1, "{name}");
        assert!(!fixture.repository.delete(alice, Uuid::now_v7()).await.unwrap(), "{name}: no such webhook");
        assert!(fixture.repository.delete(alice, webhook.id).await.unwrap(), "{name}");
        assert!(!fixture.repository.delete(alice, webhook.id).await.unwrap(), "{name}: already gone");
        assert!(fixture.repository.list(alice).await.unwrap().is_empty(), "{name}");
        assert_eq!(fixture.targets.find(webhook.id).await.unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn post_events_go_to_followers_webhooks_and_notifications_to_the_users_own() {
    for fixture in fixtures().await {
        let name = fixture.backend.name();
        let (bob, alice, carol, dave) = (
            fixture.user("bob").await,
            fixture.user("alice").await,
            fixture.user("carol").await,
            fixture.user("dave").await,
        );
        fixture.follow(alice, bob).await;
        fixture.follow(carol, bob).await;
        fixture.follow(bob, dave).await;
        let hook = |owner: UserId, n: u32| {
            let repository = Arc::clone(&fixture.repository);
            async move {
                repository.create(owner, &format!("https://example.com/{n}"), Utc::now(), 10).await.unwrap().unwrap()
            }
        };
        let (alice1, alice2, carol1, dave1, bob1) =
            (hook(alice, 1).await, hook(alice, 2).await, hook(carol, 3).await, hook(dave, 4).await, hook(bob, 5).await);

        let followers: HashSet<Uuid> = fixture.targets.of_followers(bob).await.unwrap().into_iter().collect();
        assert_eq!(followers, HashSet::from([alice1.id, alice2.id, carol1.id]), "{name}: not dave's, not bob's own");
        assert!(fixture.targets.of_followers(alice).await.unwrap().is_empty(), "{name}: alice has no followers");
        assert_eq!(fixture.targets.of_followers(dave).await.unwrap(), vec![bob1.id], "{name}");
        let own: HashSet<Uuid> = fixture.targets.of_user(alice).await.unwrap().into_iter().collect();
        assert_eq!(own, HashSet::from([alice1.id, alice2.id]), "{name}");
        assert_eq!(fixture.targets.of_user(dave).await.unwrap(), vec![dave1.id], "{name}");
        // A batch of lookups answers, in order, what each lookup answers alone.
        let audiences = [
            Audience::FollowersOf(bob),
            Audience::User(alice),
            Audience::FollowersOf(alice),
            Audience::FollowersOf(dave),
            Audience::User(carol),
            Audience::FollowersOf(bob),
        ];
        let batch: Vec<HashSet<Uuid>> = fixture
            .targets
            .of_audiences(&audiences)
            .await
            .unwrap()
            .into_iter()
            .map(|ids| ids.into_iter().collect())
            .collect();
        let expected: Vec<HashSet<Uuid>> = vec![
            HashSet::from([alice1.id, alice2.id, carol1.id]),
            HashSet::from([alice1.id, alice2.id]),
            HashSet::new(),
            HashSet::from([bob1.id]),
            HashSet::from([carol1.id]),
            HashSet::from([alice1.id, alice2.id, carol1.id]),
        ];
        assert_eq!(batch, expected, "{name}");
        assert!(fixture.targets.of_audiences(&[]).await.unwrap().is_empty(), "{name}");

        assert_eq!(fixture.targets.find(carol1.id).await.unwrap(), Some(carol1), "{name}: every field, secret too");
        assert_eq!(fixture.targets.find(Uuid::now_v7()).await.unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn a_deleted_user_takes_their_webhooks_along() {
    for fixture in fixtures().await {
        let name = fixture.backend.name();
        let (alice, bob) = (fixture.user("alice").await, fixture.user("bob").await);
        fixture.follow(alice, bob).await;
        let webhook = fixture.repository.create(alice, "https://example.com/a", Utc::now(), 10).await.unwrap().unwrap();
        fixture.delete_user(alice).await;
        assert!(fixture.repository.list(alice).await.unwrap().is_empty(), "{name}");
        assert_eq!(fixture.targets.find(webhook.id).await.unwrap(), None, "{name}");
        assert!(fixture.targets.of_followers(bob).await.unwrap().is_empty(), "{name}");
    }
}
