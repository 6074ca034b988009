//! The REST api: `api` (no arguments). Configuration comes from the environment.

mod boot;

use boot::Start;
use infrastructure::app::Application;
use std::process::ExitCode;

// tokio::main, not actix_web::main: the migration runner needs the multi-thread runtime.
#[tokio::main]
async fn main() -> ExitCode {
    let Some(mut shutdown) = boot::listen() else { return ExitCode::FAILURE };
    let Some(config) = boot::configure(None) else { return ExitCode::FAILURE };
    let application = match boot::start(&mut shutdown, Application::build(config)).await {
        Start::Running(application) => application,
        Start::Interrupted => return ExitCode::SUCCESS,
        Start::Failed => return ExitCode::FAILURE,
    };
    tracing::info!(port = application.port(), "api listening");
    let stopper = application.stopper();
    tokio::spawn(async move {
        shutdown.requested().await;
        stopper.stop().await;
    });
    boot::stopped(application.run_until_stopped().await)
}
