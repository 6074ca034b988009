//! What every service binary does first and last: read the configuration
//! (one line naming a bad variable), start logging, and turn the outcome into
//! an exit code.

use infrastructure::config::Config;
use infrastructure::telemetry;
use std::process::ExitCode;

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
