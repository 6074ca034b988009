//! Development mode: the api and the notifier in one process, each on its own
//! port (API.md allows this for development; deploy them separately).

use infrastructure::app::Application;
use infrastructure::config::Config;
use infrastructure::notifier::NotifierApp;
use infrastructure::telemetry;
use std::process::ExitCode;

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
    let started = async {
        let api = Application::build(config.clone()).await?;
        let notifier = NotifierApp::build(config).await?;
        anyhow::Ok((api, notifier))
    };
    let (api, notifier) = match started.await {
        Ok(both) => both,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(api_port = api.port(), notifier_port = notifier.port(), "social listening");
    let stopper = notifier.stopper();
    let outcome = tokio::select! {
        outcome = api.run_until_stopped() => outcome,
        outcome = notifier.run_until_stopped() => outcome,
        _ = tokio::signal::ctrl_c() => {
            stopper.stop().await;
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "stopped on an error");
            ExitCode::FAILURE
        }
    }
}
