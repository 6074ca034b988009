//! What every service binary does first and last: read the configuration
//! (one line naming a bad variable), start logging, and turn the outcome into
//! an exit code.

use infrastructure::config::Config;
use infrastructure::telemetry;
use std::process::ExitCode;

/// The configuration, or `None` after printing why it is unusable.
pub fn configure() -> Option<Config> {
    match Config::from_env() {
        Ok(config) => {
            telemetry::init();
            Some(config)
        }
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// Logs a start-up failure; `None` then.
pub fn started<T>(built: anyhow::Result<T>) -> Option<T> {
    built.map_err(|e| tracing::error!(error = format!("{e:#}"), "start-up failed")).ok()
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
