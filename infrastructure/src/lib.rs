//! Adapters behind the application's ports, and the wiring that runs them.

pub mod app;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod di;
pub mod events;
pub mod http;
pub mod messaging;
pub mod notifier;
pub mod persistence;
pub mod security;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
pub mod wire;
