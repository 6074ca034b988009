//! Administration: activity statistics.

pub mod ports;
mod service;

pub use service::{Interval, StatsService, StatsWindow};

#[cfg(test)]
mod tests;
