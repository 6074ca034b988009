//! What both backends' attempt limiters share: the attempt kinds, the client
//! key, the memory of refusals, and the periodic purge. Each backend only
//! counts and records attempts in its own table.

use application::PortError;
use application::ports::{Admission, AttemptId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};

pub(crate) const LOGIN: &str = "login";
pub(crate) const REGISTRATION: &str = "registration";

/// How often rows that left every window are deleted.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Refusals remembered at most; a flood from many addresses must not grow memory without bound.
const MAX_REMEMBERED: usize = 10_000;

/// A refused key: the attempt kind, the address, and the username for the per-username limit.
pub(crate) type Key = (&'static str, String, Option<String>);

/// The keys a count refused, each with the instant its limit frees (`None`
/// for a key whose limit did not refuse).
pub(crate) type Refused = Vec<(Key, Option<DateTime<Utc>>)>;

/// Keys refused until the given instant. While a key is refused the database
/// has nothing to add (a refusal records nothing, and success, the only other
/// thing that lowers a count, cannot happen while refused), so repeated
/// attempts are answered from here at no I/O cost.
#[derive(Default)]
pub(crate) struct Refusals {
    refused: Mutex<HashMap<Key, DateTime<Utc>>>,
}

impl Refusals {
    /// The refusal still in force for any of `keys`, answered from memory.
    pub(crate) fn remembered(&self, keys: &[Key], now: DateTime<Utc>) -> Option<Admission> {
        let refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        keys.iter()
            .filter_map(|key| refused.get(key))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max()
            .map(|retry_after| Admission::Refused { retry_after: retry_after.max(Duration::seconds(1)) })
    }

    /// The admission of a counted attempt: admitted with its record, or
    /// refused by the limits that `counted` names.
    pub(crate) fn answer(&self, counted: Result<AttemptId, Refused>, now: DateTime<Utc>) -> Admission {
        match counted {
            Ok(attempt) => Admission::Admitted(attempt),
            Err(refused) => self.refuse(refused, now),
        }
    }

    /// Remembers each key that the count refused (with the instant it frees
    /// at), and answers the refusal: the wait until every refusing limit frees.
    fn refuse(&self, refused: Refused, now: DateTime<Utc>) -> Admission {
        let mut until = now;
        for (key, frees_at) in refused {
            if let Some(frees_at) = frees_at {
                self.remember(key, frees_at, now);
                until = until.max(frees_at);
            }
        }
        Admission::Refused { retry_after: wait(until, now) }
    }

    fn remember(&self, key: Key, until: DateTime<Utc>, now: DateTime<Utc>) {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.len() >= MAX_REMEMBERED {
            refused.retain(|_, until| *until > now);
        }
        if refused.len() < MAX_REMEMBERED {
            refused.insert(key, until);
        }
    }

    fn forget_expired(&self, now: DateTime<Utc>) {
        self.refused.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
    }
}

/// The keys of a login attempt: the address alone, and the address with the username.
pub(crate) fn login_keys(client: &str, username: &str) -> [Key; 2] {
    [(LOGIN, client.to_owned(), None), (LOGIN, client.to_owned(), Some(username.to_owned()))]
}

/// The key of a registration attempt.
pub(crate) fn registration_key(client: &str) -> Key {
    (REGISTRATION, client.to_owned(), None)
}

/// One more attempt no earlier than a second from now (a `Retry-After` of 0 invites a hot loop).
fn wait(until: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (until - now).max(Duration::seconds(1))
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
pub(crate) fn client_key(client: IpAddr) -> String {
    client.to_canonical().to_string()
}

/// The row offset, newest first, of the attempt that decides whether a limit
/// of `max` is reached; `None` when the limit admits nothing at all.
pub(crate) fn deciding_offset(max: u32) -> Option<i64> {
    max.checked_sub(1).map(i64::from)
}

/// A limiter's state, as its purge task sees it.
#[async_trait]
pub(crate) trait AttemptTable: Send + Sync + 'static {
    fn refusals(&self) -> &Refusals;

    /// Deletes the attempts made before `before`.
    async fn purge(&self, before: DateTime<Utc>) -> Result<(), PortError>;
}

/// Every minute, deletes the attempts older than `retention` (the longest
/// window) and forgets lapsed refusals; ends when the limiter is dropped.
pub(crate) fn start_purge<T: AttemptTable>(table: &Arc<T>, retention: Duration) {
    tokio::spawn(purge_periodically(Arc::downgrade(table), retention));
}

async fn purge_periodically<T: AttemptTable>(table: Weak<T>, retention: Duration) {
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    loop {
        ticks.tick().await;
        let Some(table) = table.upgrade() else { return };
        if let Err(e) = table.purge(Utc::now() - retention).await {
            tracing::warn!(error = %e, "could not purge old attempts");
        }
        table.refusals().forget_expired(Utc::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_remembered_until_the_limit_frees_and_answers_at_least_a_second() {
        let refusals = Refusals::default();
        let now = Utc::now();
        let [address, username] = login_keys("192.0.2.1", "kim");
        let refused =
            refusals.refuse(vec![(address.clone(), Some(now + Duration::seconds(30))), (username.clone(), None)], now);
        assert_eq!(refused, Admission::Refused { retry_after: Duration::seconds(30) });
        let later = now + Duration::seconds(10);
        assert_eq!(
            refusals.remembered(&[address.clone(), username.clone()], later),
            Some(Admission::Refused { retry_after: Duration::seconds(20) })
        );
        assert_eq!(refusals.remembered(&[username], later), None, "only the refusing key is remembered");
        let almost = now + Duration::milliseconds(29_900);
        assert_eq!(
            refusals.remembered(std::slice::from_ref(&address), almost),
            Some(Admission::Refused { retry_after: Duration::seconds(1) })
        );
        assert_eq!(refusals.remembered(&[address], now + Duration::seconds(30)), None);
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_address() {
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.1");
        assert_eq!(deciding_offset(0), None);
        assert_eq!(deciding_offset(3), Some(2));
    }
}
