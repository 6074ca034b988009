//! Development mode: the api and the notifier in one process, each on its own
//! port (for development and small installations; deploy them separately to scale).

mod boot;

use boot::Start;
use infrastructure::app::{Application, build_core};
use infrastructure::notifier::NotifierApp;
use std::process::ExitCode;

/// Where `social` keeps its signing key when `JWT_SECRET_KEY` is not set.
const KEY_FILE: &str = "./data/jwt-secret";

#[tokio::main]
async fn main() -> ExitCode {
    let Some(mut shutdown) = boot::listen() else { return ExitCode::FAILURE };
    let Some(config) = boot::configure(Some(KEY_FILE)) else { return ExitCode::FAILURE };
    let build = async {
        let core = build_core(&config).await?;
        // The notifier first: its consumer is bound before the api's relay
        // publishes what the outbox holds.
        let notifier = NotifierApp::start(core.clone(), config.clone()).await?;
        let api = Application::start(core, config).await?;
        anyhow::Ok((api, notifier))
    };
    let (api, notifier) = match boot::start(&mut shutdown, build).await {
        Start::Running(services) => services,
        Start::Interrupted => return ExitCode::SUCCESS,
        Start::Failed => return ExitCode::FAILURE,
    };
    tracing::info!(api_port = api.port(), notifier_port = notifier.port(), "social listening");
    let (api_stopper, notifier_stopper) = (api.stopper(), notifier.stopper());
    tokio::spawn(async move {
        shutdown.requested().await;
        notifier_stopper.stop().await;
        api_stopper.stop().await;
    });
    let (api, notifier) = tokio::join!(api.run_until_stopped(), notifier.run_until_stopped());
    boot::stopped(api.and(notifier))
}
