//! The ids of the events this notifier delivered last, so that a redelivery
//! (an ack lost with a broker connection, a relay that published twice before
//! it could mark its rows) does not reach the sockets a second time.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use uuid::Uuid;

/// Redeliveries come within seconds of the original: a few thousand ids cover
/// any realistic window at a bounded cost (~100 KiB).
const REMEMBERED: usize = 4096;

#[derive(Default)]
pub struct Seen {
    ids: Mutex<(HashSet<Uuid>, VecDeque<Uuid>)>,
}

impl Seen {
    /// Whether `id` was recorded (and is still remembered).
    pub fn contains(&self, id: Uuid) -> bool {
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.contains(&id)
    }

    /// Remembers `id`, forgetting the oldest beyond [`REMEMBERED`].
    pub fn record(&self, id: Uuid) {
        let mut guard = self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if !set.insert(id) {
            return;
        }
        order.push_back(id);
        if order.len() > REMEMBERED
            && let Some(oldest) = order.pop_front()
        {
            set.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_id_is_known_until_newer_ids_push_it_out() {
        let seen = Seen::default();
        let first = Uuid::now_v7();
        assert!(!seen.contains(first));
        seen.record(first);
        assert!(seen.contains(first));
        for _ in 0..REMEMBERED {
            seen.record(Uuid::now_v7());
        }
        assert!(!seen.contains(first), "forgotten after {REMEMBERED} newer ids");
    }
}
