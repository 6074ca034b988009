//! Pauses between attempts to reach a dependency that is down.
//!
//! Doubling from 100 ms and capped at 2 s, so a dependency that comes back is
//! reached again within about 2 s however long it was away; each pause is
//! drawn between half and all of its step, so instances that lost the same
//! broker or database do not all knock again at the same instant.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);
/// The longest pause: the bound on how late a reconnection can be.
pub const CAP: Duration = Duration::from_secs(2);

/// The pause schedule of one reconnecting loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { step: FIRST }
    }
}

impl Backoff {
    /// The next pause: between half and all of the current step, then the step doubles up to [`CAP`].
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.step.mul_f64(rand::random_range(0.5..=1.0));
        self.step = (self.step * 2).min(CAP);
        pause
    }

    /// Back to the first step, after a success.
    pub fn reset(&mut self) {
        self.step = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_but_never_pass_the_cap() {
        let mut backoff = Backoff::default();
        let pauses: Vec<Duration> = (0..50).map(|_| backoff.next_pause()).collect();
        assert!(pauses[0] <= FIRST && pauses[0] >= FIRST / 2);
        assert!(pauses.iter().all(|p| *p <= CAP));
        assert!(pauses[10..].iter().all(|p| *p >= CAP / 2), "the step reaches the cap");
    }

    #[test]
    fn pauses_are_jittered_and_a_reset_starts_over() {
        let mut backoff = Backoff::default();
        let late: Vec<Duration> = (0..40).map(|_| backoff.next_pause()).skip(10).collect();
        assert!(late.windows(2).any(|pair| pair[0] != pair[1]), "not all the same pause");
        backoff.reset();
        assert!(backoff.next_pause() <= FIRST);
    }
}
