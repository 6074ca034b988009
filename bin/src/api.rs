//! The REST api: `api` (no arguments). Configuration comes from the environment.

mod boot;

use infrastructure::app::Application;
use std::process::ExitCode;

// tokio::main, not actix_web::main: the migration runner needs the multi-thread runtime.
#[tokio::main]
async fn main() -> ExitCode {
    let Some(config) = boot::configure(None) else { return ExitCode::FAILURE };
    let Some(application) = boot::started(Application::build(config).await) else { return ExitCode::FAILURE };
    tracing::info!(port = application.port(), "api listening");
    boot::stopped(application.run_until_stopped().await)
}
