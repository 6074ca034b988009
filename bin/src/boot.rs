//! What every service binary does first and last: read the configuration
//! (one line naming a bad variable), start logging, and turn the outcome into
//! an exit code.

use infrastructure::config::Config;
use infrastructure::telemetry;
use std::process::ExitCode;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Listens for SIGINT/SIGTERM, or prints why it cannot.
pub fn listen() -> Option<Shutdown> {
    Shutdown::listen().map_err(|e| eprintln!("installing signal handlers: {e}")).ok()
}

/// The configuration, or `None` after printing why it is unusable. With
/// `key_file`, an unset `JWT_SECRET_KEY` is read from that file (created once):
/// only for `social`, one process with nothing to share; the served binaries
/// pass `None` because every instance must be given the same key.
pub fn configure(key_file: Option<&'static str>) -> Option<Config> {
    let config = match key_file {
        None => Config::from_env().map(|config| (config, false)).map_err(anyhow::Error::from),
        Some(path) => Config::from_env_or_key_file(std::path::Path::new(path)),
    };
    match config {
        Ok((config, generated)) => {
            telemetry::init();
            if generated {
                tracing::info!(
                    path = key_file.unwrap_or_default(),
                    "JWT_SECRET_KEY unset: generated a signing key, kept for next runs"
                );
            }
            Some(config)
        }
        Err(e) => {
            eprintln!("{e:#}");
            None
        }
    }
}

/// What starting the services came to.
pub enum Start<T> {
    Running(T),
    /// A signal arrived first: leave quietly.
    Interrupted,
    /// Logged already.
    Failed,
}

/// Builds the services unless a shutdown is requested first; a failure is logged.
pub async fn start<T>(shutdown: &mut Shutdown, build: impl Future<Output = anyhow::Result<T>>) -> Start<T> {
    tokio::select! {
        built = build => match built {
            Ok(services) => Start::Running(services),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "start-up failed");
                Start::Failed
            }
        },
        () = shutdown.requested() => Start::Interrupted,
    }
}

/// The exit code of a server that stopped.
pub fn stopped(outcome: std::io::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "stopped on an error");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM, listened to from the moment [`Shutdown::listen`] is
/// called: a signal that arrives while the services are still starting is not lost.
pub struct Shutdown {
    interrupt: Signal,
    terminate: Signal,
}

impl Shutdown {
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// Waits for the first of the two signals.
    pub async fn requested(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        tracing::info!("shutting down");
    }
}
