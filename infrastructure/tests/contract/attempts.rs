//! The `AttemptLimiter` contract.

use application::ports::{Admission, AttemptLimiter, LoginLimits, RateLimit};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use infrastructure::persistence::PgAttemptLimiter;
use infrastructure::persistence::sqlite::SqliteAttemptLimiter;
use std::net::IpAddr;
use std::sync::Arc;

use crate::accounts::micros;
use crate::support::{Backend, backends};

const WINDOW: Duration = Duration::minutes(15);

fn limiter(backend: &Backend) -> Arc<dyn AttemptLimiter> {
    match backend {
        Backend::Postgres(pool) => Arc::new(PgAttemptLimiter::start(pool.handle(), WINDOW)),
        Backend::Sqlite(db) => Arc::new(SqliteAttemptLimiter::start(db.clone(), WINDOW)),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const LIMITS: LoginLimits = LoginLimits {
    per_username: RateLimit { max: 3, window: WINDOW },
    per_address: RateLimit { max: 5, window: WINDOW },
};

fn at(start: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    start + Duration::seconds(seconds)
}

fn admitted(admission: &Admission) -> bool {
    matches!(admission, Admission::Admitted(_))
}

#[tokio::test]
async fn logins_are_refused_past_each_limit_until_the_oldest_attempt_leaves_the_window() {
    for backend in backends().await {
        let limiter = limiter(&backend);
        let (t0, client) = (micros(Utc::now()), ip("192.0.2.1"));
        for second in 0..3 {
            let admission = limiter.begin_login("kim", client, &LIMITS, at(t0, second)).await.unwrap();
            assert!(admitted(&admission), "{}: attempt {second}", backend.name());
        }
        let refused = limiter.begin_login("kim", client, &LIMITS, at(t0, 3)).await.unwrap();
        assert_eq!(refused, Admission::Refused { retry_after: WINDOW - Duration::seconds(3) }, "{}", backend.name());
        // Another name from the same address, up to the address's limit.
        for second in 4..6 {
            assert!(admitted(&limiter.begin_login("lou", client, &LIMITS, at(t0, second)).await.unwrap()));
        }
        let address = limiter.begin_login("max", client, &LIMITS, at(t0, 6)).await.unwrap();
        assert_eq!(address, Admission::Refused { retry_after: WINDOW - Duration::seconds(6) }, "{}", backend.name());
        // Another address is counted apart; an IPv4-mapped IPv6 address is the IPv4 one.
        assert!(admitted(&limiter.begin_login("max", ip("192.0.2.2"), &LIMITS, at(t0, 6)).await.unwrap()));
        let mapped = limiter.begin_login("max", ip("::ffff:192.0.2.1"), &LIMITS, at(t0, 7)).await.unwrap();
        assert!(!admitted(&mapped), "{}", backend.name());

        // Once the first attempt leaves the window, one more is possible.
        let after = at(t0, 15 * 60 + 1);
        assert!(admitted(&limiter.begin_login("kim", client, &LIMITS, after).await.unwrap()), "{}", backend.name());
    }
}

#[tokio::test]
async fn a_successful_login_clears_that_names_attempts_from_that_address() {
    for backend in backends().await {
        let limiter = limiter(&backend);
        let (t0, client) = (micros(Utc::now()), ip("198.51.100.7"));
        for second in 0..3 {
            assert!(admitted(&limiter.begin_login("nia", client, &LIMITS, at(t0, second)).await.unwrap()));
        }
        // The third succeeded.
        limiter.clear_logins("nia", client).await.unwrap();
        for second in 3..6 {
            let admission = limiter.begin_login("nia", client, &LIMITS, at(t0, second)).await.unwrap();
            assert!(admitted(&admission), "{}: cleared, attempt {second}", backend.name());
        }
        let refused = limiter.begin_login("nia", client, &LIMITS, at(t0, 6)).await.unwrap();
        assert!(!admitted(&refused), "{}", backend.name());
    }
}

#[tokio::test]
async fn registrations_are_limited_per_address_and_a_forgotten_attempt_does_not_count() {
    for backend in backends().await {
        let limiter = limiter(&backend);
        let (t0, client) = (micros(Utc::now()), ip("203.0.113.9"));
        let limit = RateLimit { max: 2, window: Duration::hours(1) };
        let Admission::Admitted(first) = limiter.begin_registration(client, &limit, t0).await.unwrap() else {
            panic!("{}: the first registration is admitted", backend.name());
        };
        assert!(admitted(&limiter.begin_registration(client, &limit, at(t0, 1)).await.unwrap()));
        limiter.forget(first).await.unwrap();
        limiter.forget(first).await.unwrap();
        assert!(admitted(&limiter.begin_registration(client, &limit, at(t0, 2)).await.unwrap()), "{}", backend.name());
        let refused = limiter.begin_registration(client, &limit, at(t0, 3)).await.unwrap();
        assert_eq!(refused, Admission::Refused { retry_after: Duration::hours(1) - Duration::seconds(2) });
        // Answered from memory, the wait still shrinks with time.
        let again = limiter.begin_registration(client, &limit, at(t0, 4)).await.unwrap();
        assert_eq!(again, Admission::Refused { retry_after: Duration::hours(1) - Duration::seconds(3) });
        let other = limiter.begin_registration(ip("203.0.113.10"), &limit, at(t0, 4)).await.unwrap();
        assert!(admitted(&other), "{}", backend.name());
        // A limit of zero admits nothing, for a whole window.
        let closed = RateLimit { max: 0, window: Duration::hours(1) };
        let refused = limiter.begin_registration(ip("203.0.113.11"), &closed, t0).await.unwrap();
        assert_eq!(refused, Admission::Refused { retry_after: Duration::hours(1) }, "{}", backend.name());
    }
}

#[tokio::test]
async fn concurrent_attempts_from_one_client_are_admitted_no_more_than_the_limit() {
    for backend in backends().await {
        let limiter = limiter(&backend);
        let (now, client) = (Utc::now(), ip("192.0.2.77"));
        let limit = RateLimit { max: 3, window: Duration::hours(1) };
        let admissions = join_all((0..12).map(|_| limiter.begin_registration(client, &limit, now))).await;
        let admitted = admissions.iter().filter(|a| matches!(a, Ok(Admission::Admitted(_)))).count();
        assert_eq!(admitted, 3, "{}", backend.name());
    }
}
