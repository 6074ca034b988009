use chrono::{DateTime, Duration, Utc};
use std::str::FromStr;
use std::sync::Arc;

use super::ports::{Counts, StatsRepository};
use crate::ApplicationError;
use crate::ports::{AccessClaims, Clock, UserRepository};
use crate::user::require_admin;

/// The window of the statistics, ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// A month is 30 days: windows of equal length compare.
    #[must_use]
    pub const fn length(&self) -> Duration {
        match self {
            Self::Day => Duration::days(1),
            Self::Week => Duration::days(7),
            Self::Month => Duration::days(30),
        }
    }
}

impl FromStr for Interval {
    type Err = &'static str;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            _ => Err("must be day, week or month"),
        }
    }
}

/// Statistics of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsWindow {
    pub interval: Interval,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub counts: Counts,
}

/// Admin statistics.
pub struct StatsService {
    users: Arc<dyn UserRepository>,
    stats: Arc<dyn StatsRepository>,
    clock: Arc<dyn Clock>,
}

impl StatsService {
    #[must_use]
    pub fn new(users: Arc<dyn UserRepository>, stats: Arc<dyn StatsRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { users, stats, clock }
    }

    /// Active users, new users, posts and follows in the `interval` ending now.
    ///
    /// # Errors
    /// `Forbidden` for a non-admin, or `Unknown`.
    pub async fn window(&self, caller: &AccessClaims, interval: Interval) -> Result<StatsWindow, ApplicationError> {
        require_admin(self.users.as_ref(), caller).await?;
        let to = self.clock.now();
        let from = to - interval.length();
        Ok(StatsWindow { interval, from, to, counts: self.stats.counts(from, to).await? })
    }
}
