//! The REST api: `api` (no arguments). Configuration comes from the environment.

use infrastructure::app::Application;
use infrastructure::config::Config;
use infrastructure::telemetry;
use std::process::ExitCode;

// tokio::main, not actix_web::main: the migration runner needs the multi-thread runtime.
#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init();
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(port = application.port(), "api listening");
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "api stopped on an error");
            ExitCode::FAILURE
        }
    }
}
