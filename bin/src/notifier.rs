//! The WebSocket notifier: `notifier` (no arguments). Configuration comes from the environment.

mod boot;

use infrastructure::notifier::NotifierApp;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(config) = boot::configure(None) else { return ExitCode::FAILURE };
    let Some(notifier) = boot::started(NotifierApp::build(config).await) else { return ExitCode::FAILURE };
    tracing::info!(port = notifier.port(), "notifier listening");
    let stopper = notifier.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing sockets with 1001");
        stopper.stop().await;
    });
    boot::stopped(notifier.run_until_stopped().await)
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
