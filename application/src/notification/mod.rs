//! Notifications and the read marker.

pub mod ports;
mod service;

pub use service::NotificationService;
