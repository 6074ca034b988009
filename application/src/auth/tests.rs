use domain::Role;
use futures::executor::block_on;
use std::sync::atomic::Ordering;

use crate::testing::{CLIENT, Harness};
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
        let err = block_on(h.auth.login(name, password, CLIENT)).unwrap_err();
        assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidCredentials)), "{name}");
        assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), before + 1, "{name}");
    }
}

#[test]
fn login_is_case_insensitive_on_the_username() {
    let h = Harness::default();
    h.register("Alice", None, None).unwrap();
    assert!(block_on(h.auth.login("ALICE", "correct horse", CLIENT)).is_ok());
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

mod throttling {
    use chrono::Duration;
    use domain::{Password, Username};
    use futures::executor::block_on;
    use std::net::IpAddr;
    use std::sync::atomic::Ordering;

    use crate::auth::{AttemptLimits, RegisterCommand};
    use crate::ports::{LoginLimits, RateLimit};
    use crate::testing::{CLIENT, Harness};
    use crate::{ApplicationError, AuthFailure};

    /// The documented defaults: 5 per username, 50 per address in 15 minutes, 10 registrations an hour.
    const DOCUMENTED: AttemptLimits = AttemptLimits {
        login: LoginLimits {
            per_username: RateLimit { max: 5, window: Duration::minutes(15) },
            per_address: RateLimit { max: 50, window: Duration::minutes(15) },
        },
        registration: RateLimit { max: 10, window: Duration::hours(1) },
    };
    const ELSEWHERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));

    fn login(h: &Harness, name: &str, password: &str, client: IpAddr) -> Result<crate::auth::Tokens, ApplicationError> {
        block_on(h.auth.login(name, password, client))
    }

    fn register_from(h: &Harness, name: &str, client: IpAddr) -> Result<domain::User, ApplicationError> {
        let command = RegisterCommand {
            username: Username::new(name).unwrap(),
            password: Password::new("correct horse").unwrap(),
            email: None,
            role: None,
        };
        block_on(h.auth.register(command, None, client))
    }

    fn assert_refused(result: Result<impl std::fmt::Debug, ApplicationError>, seconds: u64) {
        match result {
            Err(ApplicationError::TooManyAttempts { retry_after_seconds }) => assert_eq!(retry_after_seconds, seconds),
            other => panic!("expected TooManyAttempts, got {other:?}"),
        }
    }

    #[test]
    fn the_sixth_failure_for_a_username_is_refused_without_checking_the_password() {
        let h = Harness::with_limits(DOCUMENTED);
        h.register("alice", None, None).unwrap();
        for _ in 0..5 {
            let err = login(&h, "alice", "wrong password", CLIENT).unwrap_err();
            assert!(matches!(err, ApplicationError::Unauthorized(AuthFailure::InvalidCredentials)));
        }
        let verified = h.hasher.verifications.load(Ordering::SeqCst);
        // Even the right password is refused, in any letter case: the check is never reached.
        assert_refused(login(&h, "ALICE", "correct horse", CLIENT), 15 * 60);
        assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), verified, "no verification spent");
    }

    #[test]
    fn the_username_limit_is_per_address() {
        let h = Harness::with_limits(DOCUMENTED);
        h.register("alice", None, None).unwrap();
        for _ in 0..5 {
            login(&h, "alice", "wrong password", CLIENT).unwrap_err();
        }
        assert!(login(&h, "alice", "correct horse", ELSEWHERE).is_ok());
    }

    #[test]
    fn a_success_clears_the_failures_of_that_username() {
        let h = Harness::with_limits(DOCUMENTED);
        h.register("alice", None, None).unwrap();
        for _ in 0..4 {
            login(&h, "alice", "wrong password", CLIENT).unwrap_err();
        }
        assert!(login(&h, "Alice", "correct horse", CLIENT).is_ok());
        for _ in 0..4 {
            login(&h, "alice", "wrong password", CLIENT).unwrap_err();
        }
        assert!(login(&h, "alice", "correct horse", CLIENT).is_ok(), "four new failures are under the limit");
    }

    #[test]
    fn failures_across_usernames_hit_the_address_limit() {
        let h = Harness::with_limits(DOCUMENTED);
        h.register("alice", None, None).unwrap();
        for n in 0..50 {
            let err = login(&h, &format!("guess{n}"), "wrong password", CLIENT).unwrap_err();
            assert!(matches!(err, ApplicationError::Unauthorized(_)), "attempt {n}: {err:?}");
        }
        assert_refused(login(&h, "alice", "correct horse", CLIENT), 15 * 60);
        assert!(login(&h, "alice", "correct horse", ELSEWHERE).is_ok(), "other addresses are unaffected");
    }

    #[test]
    fn an_attempt_the_hasher_refused_is_not_held_against_the_client() {
        let h = Harness::with_limits(DOCUMENTED);
        h.register("alice", None, None).unwrap();
        h.hasher.busy.store(true, Ordering::SeqCst);
        for _ in 0..10 {
            assert!(matches!(login(&h, "alice", "wrong password", CLIENT), Err(ApplicationError::Busy)));
        }
        h.hasher.busy.store(false, Ordering::SeqCst);
        assert!(login(&h, "alice", "correct horse", CLIENT).is_ok());
        assert_eq!(h.attempts.count(), 1, "only alice's registration is recorded");
    }

    #[test]
    fn registrations_per_address_are_limited_before_any_hashing() {
        let h = Harness::with_limits(DOCUMENTED);
        for n in 0..10 {
            register_from(&h, &format!("user{n}"), CLIENT).unwrap();
        }
        let hashes = h.hasher.hashes.load(Ordering::SeqCst);
        assert_refused(register_from(&h, "user10", CLIENT), 60 * 60);
        assert_eq!(h.hasher.hashes.load(Ordering::SeqCst), hashes, "no hash spent");
        assert!(register_from(&h, "user10", ELSEWHERE).is_ok());
    }

    #[test]
    fn usernames_are_counted_lower_cased_and_cut_to_64_characters() {
        let h = Harness::with_limits(DOCUMENTED);
        let long = "İ".repeat(100);
        for _ in 0..5 {
            login(&h, &long, "wrong password", CLIENT).unwrap_err();
        }
        let refused = login(&h, &"i̇".repeat(100), "wrong password", CLIENT);
        assert_refused(refused, 15 * 60);
    }

    #[test]
    fn a_taken_username_still_counts_as_a_registration() {
        let h = Harness::with_limits(DOCUMENTED);
        register_from(&h, "alice", CLIENT).unwrap();
        for _ in 0..9 {
            assert!(matches!(register_from(&h, "alice", CLIENT), Err(ApplicationError::Conflict(_))));
        }
        assert_refused(register_from(&h, "bob", CLIENT), 60 * 60);
    }
}
