//! Delivery slots: how many deliveries may be in flight at once per webhook
//! and per user, so that a receiver that accepts and never answers (or a user
//! with ten of them) holds a few slots until the request times out, never all
//! of them.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

/// In-flight deliveries per key; a key is present only while it has some, so
/// the maps hold at most as many entries as there are deliveries in flight.
#[derive(Default)]
struct InFlight {
    webhooks: HashMap<Uuid, usize>,
    users: HashMap<Uuid, usize>,
}

fn release<K: Eq + Hash>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// The slots of one process (each api instance bounds its own deliveries).
#[derive(Clone)]
pub struct Slots {
    in_flight: Arc<Mutex<InFlight>>,
    per_webhook: usize,
    per_user: usize,
}

impl Slots {
    #[must_use]
    pub fn new(per_webhook: usize, per_user: usize) -> Self {
        Self { in_flight: Arc::default(), per_webhook: per_webhook.max(1), per_user: per_user.max(1) }
    }

    /// A slot for one delivery to `webhook` of `user`, or `None` at once if
    /// either is at its bound: the caller puts the job off rather than wait
    /// while holding a place that other receivers' jobs need.
    #[must_use]
    pub fn try_take(&self, webhook: Uuid, user: Uuid) -> Option<Slot> {
        // Counters only change under this lock and nothing inside it can
        // panic, so a poisoned lock still holds consistent counts.
        let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let to_webhook = in_flight.webhooks.get(&webhook).copied().unwrap_or(0);
        let of_user = in_flight.users.get(&user).copied().unwrap_or(0);
        if to_webhook >= self.per_webhook || of_user >= self.per_user {
            return None;
        }
        *in_flight.webhooks.entry(webhook).or_default() += 1;
        *in_flight.users.entry(user).or_default() += 1;
        metrics::gauge!("webhook_deliveries_in_flight").increment(1.0);
        Some(Slot { in_flight: Arc::clone(&self.in_flight), webhook, user })
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        (in_flight.webhooks.len(), in_flight.users.len())
    }
}

/// One delivery in flight; dropping it frees the slot.
pub struct Slot {
    in_flight: Arc<Mutex<InFlight>>,
    webhook: Uuid,
    user: Uuid,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        release(&mut in_flight.webhooks, &self.webhook);
        release(&mut in_flight.users, &self.user);
        metrics::gauge!("webhook_deliveries_in_flight").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_gets_at_most_its_share_and_others_still_get_theirs() {
        let slots = Slots::new(2, 4);
        let (hook, other_hook, user, other_user) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let held: Vec<Slot> = (0..2).filter_map(|_| slots.try_take(hook, user)).collect();
        assert_eq!(held.len(), 2);
        assert!(slots.try_take(hook, user).is_none(), "a third delivery to one webhook waits");
        assert!(slots.try_take(other_hook, user).is_some(), "another webhook of the same user still goes");
        assert!(slots.try_take(other_hook, other_user).is_some());
    }

    #[test]
    fn a_user_gets_at_most_their_share_across_webhooks() {
        let slots = Slots::new(2, 4);
        let user = Uuid::now_v7();
        let held: Vec<Slot> = (0..10).filter_map(|_| slots.try_take(Uuid::now_v7(), user)).collect();
        assert_eq!(held.len(), 4);
        assert!(slots.try_take(Uuid::now_v7(), Uuid::now_v7()).is_some(), "another user still goes");
    }

    #[test]
    fn a_finished_delivery_frees_its_slot_and_idle_keys_are_forgotten() {
        let slots = Slots::new(1, 1);
        let (hook, user) = (Uuid::now_v7(), Uuid::now_v7());
        let slot = slots.try_take(hook, user);
        assert!(slot.is_some() && slots.try_take(hook, user).is_none());
        drop(slot);
        assert_eq!(slots.tracked(), (0, 0));
        assert!(slots.try_take(hook, user).is_some());
    }
}
