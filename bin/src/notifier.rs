//! The WebSocket notifier: `notifier` (no arguments). Configuration comes from the environment.

mod boot;

use boot::Start;
use infrastructure::notifier::NotifierApp;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(mut shutdown) = boot::listen() else { return ExitCode::FAILURE };
    let Some(config) = boot::configure(None) else { return ExitCode::FAILURE };
    let notifier = match boot::start(&mut shutdown, NotifierApp::build(config)).await {
        Start::Running(notifier) => notifier,
        Start::Interrupted => return ExitCode::SUCCESS,
        Start::Failed => return ExitCode::FAILURE,
    };
    tracing::info!(port = notifier.port(), "notifier listening");
    let stopper = notifier.stopper();
    tokio::spawn(async move {
        shutdown.requested().await;
        tracing::info!("closing sockets with 1001");
        stopper.stop().await;
    });
    boot::stopped(notifier.run_until_stopped().await)
}
