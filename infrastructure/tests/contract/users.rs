//! The `UserRepository` contract.

use application::ports::{AccessClaims, UserChanges, UserRepository};
use application::{Conflict, PortError};
use chrono::{Duration, Utc};
use domain::{Bio, DisplayName, Email, Role, UserId, Username};
use infrastructure::persistence::sqlite::{SqliteRefreshTokenStore, SqliteTicketStore, SqliteUserRepository};
use infrastructure::persistence::{PgRefreshTokenStore, PgTicketStore, PgUserRepository};
use std::sync::Arc;
use uuid::Uuid;

use crate::accounts::{follow, new_user, post, rows};
use crate::support::{Backend, backends};

fn repository(backend: &Backend) -> Arc<dyn UserRepository> {
    match backend {
        Backend::Postgres(pool) => Arc::new(PgUserRepository::new(pool.handle())),
        Backend::Sqlite(db) => Arc::new(SqliteUserRepository::new(db.clone())),
    }
}

fn username(raw: &str) -> Username {
    Username::new(raw).unwrap()
}

fn conflict(result: Result<impl std::fmt::Debug, PortError>) -> Conflict {
    match result {
        Err(PortError::Conflict(conflict)) => conflict,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn usernames_and_emails_are_unique_whatever_their_case_and_each_conflict_is_named() {
    for backend in backends().await {
        let users = repository(&backend);
        let alice = users.insert(new_user("Alice", Some("alice@example.com"))).await.unwrap();
        assert_eq!(alice.username.as_str(), "Alice", "{}: the spelling is kept", backend.name());

        let same_name = users.insert(new_user("aLICE", Some("other@example.com"))).await;
        assert_eq!(conflict(same_name), Conflict::UsernameTaken, "{}", backend.name());
        let same_email = users.insert(new_user("bob", Some("ALICE@Example.COM"))).await;
        assert_eq!(conflict(same_email), Conflict::EmailTaken, "{}", backend.name());

        // Without an address, any number of users.
        let bob = users.insert(new_user("bob", None)).await.unwrap();
        users.insert(new_user("carol", None)).await.unwrap();

        let rename = UserChanges { username: Some(username("ALICE")), ..UserChanges::default() };
        assert_eq!(conflict(users.update(bob.id, rename).await), Conflict::UsernameTaken, "{}", backend.name());
        let readdress =
            UserChanges { email: Some(Some(Email::new("Alice@example.com").unwrap())), ..UserChanges::default() };
        assert_eq!(conflict(users.update(bob.id, readdress).await), Conflict::EmailTaken, "{}", backend.name());

        // Renaming frees the old name (its key follows the name).
        let renamed = UserChanges { username: Some(username("Alicia")), ..UserChanges::default() };
        users.update(alice.id, renamed).await.unwrap().unwrap();
        users.insert(new_user("alice", Some("new@example.com"))).await.unwrap();

        let credentials = users.find_credentials("ALICIA").await.unwrap().unwrap();
        assert_eq!(credentials.user.id, alice.id, "{}", backend.name());
        assert_eq!(credentials.password_hash.as_str(), "hash-of-Alice", "{}", backend.name());
        assert!(users.find_credentials("nobody").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn updates_change_only_what_they_name() {
    for backend in backends().await {
        let users = repository(&backend);
        let dana = users.insert(new_user("dana", Some("dana@example.com"))).await.unwrap();
        let changes = UserChanges {
            display_name: Some(Some(DisplayName::new("Dana D.").unwrap())),
            bio: Some(Some(Bio::new("hi").unwrap())),
            ..UserChanges::default()
        };
        let updated = users.update(dana.id, changes).await.unwrap().unwrap();
        assert_eq!(updated.display_name.as_ref().map(DisplayName::as_str), Some("Dana D."));
        assert_eq!(updated.email, dana.email, "{}: untouched", backend.name());
        let cleared = UserChanges { email: Some(None), bio: Some(None), ..UserChanges::default() };
        let updated = users.update(dana.id, cleared).await.unwrap().unwrap();
        assert_eq!((&updated.email, &updated.bio), (&None, &None), "{}", backend.name());
        assert_eq!(updated.display_name.as_ref().map(DisplayName::as_str), Some("Dana D."));
        assert_eq!(users.find(dana.id).await.unwrap().unwrap(), updated, "{}", backend.name());
        let nobody = UserId::from_uuid(Uuid::now_v7());
        assert!(
            users.update(nobody, UserChanges { bio: Some(None), ..UserChanges::default() }).await.unwrap().is_none()
        );

        let admin = users.set_role(dana.id, Role::Admin).await.unwrap().unwrap();
        assert_eq!(admin.role, Role::Admin, "{}", backend.name());
        assert!(users.set_role(nobody, Role::Admin).await.unwrap().is_none());

        let (user, replaced) = users.set_avatar(dana.id, Some("a1".into())).await.unwrap().unwrap();
        assert_eq!((user.avatar.as_deref(), replaced), (Some("a1"), None), "{}", backend.name());
        let (user, replaced) = users.set_avatar(dana.id, None).await.unwrap().unwrap();
        assert_eq!((user.avatar, replaced.as_deref()), (None, Some("a1")), "{}", backend.name());
        assert!(users.set_avatar(nobody, None).await.unwrap().is_none());

        let author = users.author(dana.id).await.unwrap().unwrap();
        assert_eq!((author.id, author.username.as_str()), (dana.id, "dana"));
    }
}

#[tokio::test]
async fn profiles_count_followers_following_and_posts() {
    for backend in backends().await {
        let users = repository(&backend);
        let ann = users.insert(new_user("ann", None)).await.unwrap();
        let ben = users.insert(new_user("Ben", None)).await.unwrap();
        let cy = users.insert(new_user("cyd", None)).await.unwrap();
        follow(&backend, ann.id, ben.id).await;
        follow(&backend, cy.id, ben.id).await;
        follow(&backend, ben.id, ann.id).await;
        post(&backend, ben.id).await;
        post(&backend, ben.id).await;

        let seen_by_ann = users.profile(ben.id, ann.id).await.unwrap().unwrap();
        assert_eq!(
            (seen_by_ann.followers_count, seen_by_ann.following_count, seen_by_ann.posts_count),
            (2, 1, 2),
            "{}",
            backend.name()
        );
        assert!(seen_by_ann.followed_by_me, "{}", backend.name());
        assert_eq!(seen_by_ann.user, ben);
        let seen_by_ben = users.profile(ben.id, ben.id).await.unwrap().unwrap();
        assert!(!seen_by_ben.followed_by_me, "{}", backend.name());

        let by_name = users.profile_by_username(&username("BEN"), cy.id).await.unwrap().unwrap();
        assert_eq!((by_name.user.id, by_name.followers_count, by_name.followed_by_me), (ben.id, 2, true));
        let lonely = users.profile(cy.id, ann.id).await.unwrap().unwrap();
        assert_eq!((lonely.followers_count, lonely.following_count, lonely.posts_count), (0, 1, 0));
        assert!(users.profile(UserId::from_uuid(Uuid::now_v7()), ann.id).await.unwrap().is_none());
        assert!(users.profile_by_username(&username("nobody"), ann.id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn authors_come_in_the_order_named_whatever_the_case() {
    for backend in backends().await {
        let users = repository(&backend);
        users.insert(new_user("Zed", None)).await.unwrap();
        users.insert(new_user("amy", None)).await.unwrap();
        let named = [username("AMY"), username("ghost"), username("zed")];
        let authors = users.authors_named(&named).await.unwrap();
        let names: Vec<_> = authors.iter().map(|a| a.username.as_str()).collect();
        assert_eq!(names, ["amy", "Zed"], "{}", backend.name());
        assert!(users.authors_named(&[]).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_list_pages_by_lowercase_name_and_matches_wildcards_literally() {
    for backend in backends().await {
        let users = repository(&backend);
        for name in ["annxa", "Anna", "bob", "ann_a", "annb"] {
            users.insert(new_user(name, None)).await.unwrap();
        }
        let names = |page: &application::ports::UserPage| {
            page.users.iter().map(|u| u.username.as_str().to_owned()).collect::<Vec<_>>()
        };
        let first = users.list(Some("ANN"), 2, 0).await.unwrap();
        assert_eq!((names(&first), first.total), (vec!["ann_a".into(), "Anna".into()], 4), "{}", backend.name());
        let second = users.list(Some("ANN"), 2, 2).await.unwrap();
        assert_eq!((names(&second), second.total), (vec!["annb".into(), "annxa".into()], 4), "{}", backend.name());
        let past = users.list(Some("ann"), 2, 10).await.unwrap();
        assert_eq!((past.users.len(), past.total), (0, 4));

        let underscore = users.list(Some("ann_"), 10, 0).await.unwrap();
        assert_eq!((names(&underscore), underscore.total), (vec!["ann_a".into()], 1), "{}", backend.name());
        let percent = users.list(Some("an%"), 10, 0).await.unwrap();
        assert_eq!(percent.total, 0, "{}: % is a character, not a wildcard", backend.name());
        let all = users.list(None, 10, 0).await.unwrap();
        assert_eq!(all.total, 5);
        assert_eq!(names(&all), ["ann_a", "Anna", "annb", "annxa", "bob"], "{}", backend.name());
    }
}

#[tokio::test]
async fn deleting_a_user_takes_everything_they_own() {
    for backend in backends().await {
        let users = repository(&backend);
        let (tokens, tickets): (
            Arc<dyn application::ports::RefreshTokenStore>,
            Arc<dyn application::ports::TicketStore>,
        ) = match &backend {
            Backend::Postgres(pool) => {
                (Arc::new(PgRefreshTokenStore::new(pool.handle())), Arc::new(PgTicketStore::new(pool.handle())))
            }
            Backend::Sqlite(db) => {
                (Arc::new(SqliteRefreshTokenStore::new(db.clone())), Arc::new(SqliteTicketStore::new(db.clone())))
            }
        };
        let gone = users.insert(new_user("gone", Some("gone@example.com"))).await.unwrap();
        let stays = users.insert(new_user("stays", None)).await.unwrap();
        follow(&backend, gone.id, stays.id).await;
        follow(&backend, stays.id, gone.id).await;
        post(&backend, gone.id).await;
        post(&backend, stays.id).await;
        let later = Utc::now() + Duration::hours(1);
        tokens.issue(gone.id, Uuid::now_v7(), later).await.unwrap();
        let claims = AccessClaims {
            user_id: gone.id,
            role: Role::User,
            token_id: Uuid::now_v7(),
            issued_at: Utc::now(),
            expires_at: later,
        };
        tickets.issue(&claims, later).await.unwrap();

        assert!(users.delete(gone.id).await.unwrap(), "{}", backend.name());
        assert!(!users.delete(gone.id).await.unwrap(), "{}: already gone", backend.name());
        assert!(users.find(gone.id).await.unwrap().is_none());
        let id = *gone.id.as_uuid();
        for (table, column) in [
            ("follows", "follower_id"),
            ("follows", "followee_id"),
            ("posts", "author_id"),
            ("refresh_tokens", "user_id"),
            ("ws_tickets", "user_id"),
        ] {
            assert_eq!(rows(&backend, table, column, id).await, 0, "{}: {table}.{column}", backend.name());
        }
        let left = users.profile(stays.id, stays.id).await.unwrap().unwrap();
        assert_eq!((left.followers_count, left.following_count, left.posts_count), (0, 0, 1), "{}", backend.name());
        // The name and the address are free again.
        users.insert(new_user("GONE", Some("gone@example.com"))).await.unwrap();
    }
}
