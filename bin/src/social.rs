//! Development mode: the api and the notifier in one process, each on its own
//! port (API.md allows this for development; deploy them separately).

mod boot;

use infrastructure::app::Application;
use infrastructure::notifier::NotifierApp;
use std::process::ExitCode;

/// Where `social` keeps its signing key when `JWT_SECRET_KEY` is not set.
const KEY_FILE: &str = "./data/jwt-secret";

#[tokio::main]
async fn main() -> ExitCode {
    let Some(config) = boot::configure(Some(KEY_FILE)) else { return ExitCode::FAILURE };
    let started = async {
        let api = Application::build(config.clone()).await?;
        let notifier = NotifierApp::build(config).await?;
        anyhow::Ok((api, notifier))
    };
    let Some((api, notifier)) = boot::started(started.await) else { return ExitCode::FAILURE };
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
    boot::stopped(outcome)
}
