use domain::Role;
use futures::executor::block_on;
use std::sync::atomic::Ordering;

use crate::testing::Harness;
use crate::{ApplicationError, AuthFailure, Conflict};

#[test]
fn registering_a_taken_username_in_another_case_is_a_conflict() {
    let h = Harness::default();
    h.register("Alice", None, None).unwrap();
    let err = h.register("aLiCe", None, None).unwrap_err();
    assert!(matches!(err, ApplicationError::Conflict(Conflict::UsernameTaken)), "{err:?}");
}

#[test]
fn registering_with_a_role_is_forbidden_without_an_admin_caller() {
    let h = Harness::default();
    let err = h.register("mallory", Some(Role::Admin), None).unwrap_err();
    assert!(matches!(err, ApplicationError::Forbidden(_)));
    let (plain_user, _) = h.signed_in("bob");
    let err = h.register("mallory", Some(Role::User), Some(&plain_user)).unwrap_err();
    assert!(matches!(err, ApplicationError::Forbidden(_)));
    assert_eq!(h.users.count(), 1);
}

#[test]
fn an_admin_may_register_another_admin() {
    let h = Harness::default();
    let admin = h.make_admin("root_admin");
    let created = h.register("deputy", Some(Role::Admin), Some(&admin)).unwrap();
    assert_eq!(created.role, Role::Admin);
}

#[test]
fn unknown_user_and_wrong_password_fail_alike_after_one_verification_each() {
    let h = Harness::default();
    h.register("alice", None, None).unwrap();
    for (name, password) in [("alice", "wrong password"), ("nobody", "correct horse"), ("x", "short")] {
        let before = h.hasher.verifications.load(Ordering::SeqCst);
        let err = block_on(h.auth.login(name, password)).unwrap_err();
        assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidCredentials)), "{name}");
        assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), before + 1, "{name}");
    }
}

#[test]
fn login_is_case_insensitive_on_the_username() {
    let h = Harness::default();
    h.register("Alice", None, None).unwrap();
    assert!(block_on(h.auth.login("ALICE", "correct horse")).is_ok());
}

#[test]
fn refresh_rotates_and_the_old_token_stops_working() {
    let h = Harness::default();
    let (_, first) = h.signed_in("alice");
    let second = block_on(h.auth.refresh(&first.refresh_token)).unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(h.auth.authenticate(&second.access_token).is_ok());
    let err = block_on(h.auth.refresh(&first.refresh_token)).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::RefreshTokenReused)));
}

#[test]
fn reusing_a_refresh_token_revokes_its_whole_family() {
    let h = Harness::default();
    let (_, first) = h.signed_in("alice");
    let second = block_on(h.auth.refresh(&first.refresh_token)).unwrap();
    block_on(h.auth.refresh(&first.refresh_token)).unwrap_err();
    let err = block_on(h.auth.refresh(&second.refresh_token)).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidRefreshToken)));
}

#[test]
fn an_unknown_refresh_token_is_refused() {
    let h = Harness::default();
    let err = block_on(h.auth.refresh("not-a-token")).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidRefreshToken)));
}

#[test]
fn logout_revokes_the_access_token_and_the_refresh_family() {
    let h = Harness::default();
    let (claims, tokens) = h.signed_in("alice");
    block_on(h.auth.logout(&claims, Some(&tokens.refresh_token))).unwrap();
    let err = h.auth.authenticate(&tokens.access_token).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::TokenRevoked)));
    let err = block_on(h.auth.refresh(&tokens.refresh_token)).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidRefreshToken)));
}

#[test]
fn logout_cannot_revoke_someone_elses_refresh_token() {
    let h = Harness::default();
    let (alice, _) = h.signed_in("alice");
    let (_, bob_tokens) = h.signed_in("bob");
    block_on(h.auth.logout(&alice, Some(&bob_tokens.refresh_token))).unwrap();
    assert!(block_on(h.auth.refresh(&bob_tokens.refresh_token)).is_ok());
}

#[test]
fn a_ticket_works_once_and_stands_for_its_token() {
    let h = Harness::default();
    let (claims, tokens) = h.signed_in("alice");
    let (ticket, expires_in) = block_on(h.auth.ws_ticket(&claims)).unwrap();
    assert_eq!(expires_in, 30);
    assert_eq!(block_on(h.auth.authenticate_ticket(&ticket)).unwrap(), claims);
    let err = block_on(h.auth.authenticate_ticket(&ticket)).unwrap_err();
    assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidToken)));
    let (second, _) = block_on(h.auth.ws_ticket(&claims)).unwrap();
    block_on(h.auth.logout(&claims, Some(&tokens.refresh_token))).unwrap();
    let err = block_on(h.auth.authenticate_ticket(&second)).unwrap_err();
    assert!(
        matches!(err, ApplicationError::Unauthorized(AuthFailure::TokenRevoked)),
        "a revoked token's ticket is refused"
    );
}
