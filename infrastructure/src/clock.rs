//! The wall clock behind the `Clock` port.

use application::ports::Clock;
use chrono::{DateTime, Utc};
use shaku::Component;

#[derive(Component, Default)]
#[shaku(interface = crate::di::ClockPort)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
