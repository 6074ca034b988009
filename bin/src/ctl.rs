//! Operator commands: `ctl migrate`, `ctl create-admin <username>`, `ctl dlq
//! replay`. They act on the database `DATABASE_URL` names, by default the
//! embedded one `social` uses (`sqlite://./data/social.db`), so they are run
//! from the folder `social` runs in, or with the served settings.

use anyhow::{Context, bail};
use application::user::{AdminBootstrap, UserService};
use clap::{Parser, Subcommand};
use domain::{Password, Username};
use infrastructure::app::build_core;
use infrastructure::config::{self, Config};
use infrastructure::messaging::Broker;
use infrastructure::persistence::sqlite::{self, Sqlite};
use infrastructure::{persistence, telemetry, webhooks};
use shaku::HasComponent;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "ctl", about = "Operator commands for the social backend", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Create an admin account. The password is read from the first line of
    /// standard input, so it never shows in the process list or shell history.
    CreateAdmin {
        /// 3-30 characters of A-Z, a-z, 0-9 and _.
        username: String,
    },
    /// Dead letters: events and webhook deliveries that failed their last attempt.
    Dlq {
        #[command(subcommand)]
        command: Dlq,
    },
}

#[derive(Subcommand)]
enum Dlq {
    /// Move dead letters back for another attempt: on a sqlite:// DATABASE_URL the events
    /// the in-process bus gave up on and the dead webhook deliveries; otherwise every dead
    /// webhook delivery back to the delivery queue (needs AMQP_URL, AMQP_EXCHANGE).
    Replay,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            let url = config::database_url_from_env()?;
            match sqlite::path_of(&url) {
                Some(path) => drop(Sqlite::open(path, 1).await?),
                None => drop(persistence::connect(&url, 1).await?),
            }
            println!("migrations applied");
            Ok(())
        }
        Command::Dlq { command: Dlq::Replay } => replay_dead_letters().await,
        Command::CreateAdmin { username } => {
            let username = Username::new(&username).map_err(|e| anyhow::anyhow!("username {e}"))?;
            let password = read_password()?;
            let config = configuration()?;
            let core = build_core(&config).await?;
            let users: Arc<UserService> = core.module.resolve();
            match users.bootstrap_admin(username, password).await.map_err(|e| anyhow::anyhow!(e))? {
                AdminBootstrap::Created(user) => {
                    println!("created admin {} ({})", user.username.as_str(), user.id);
                    Ok(())
                }
                AdminBootstrap::AlreadyExists { .. } => bail!("that username is taken; nothing was changed"),
            }
        }
    }
}

/// Moves dead letters back for another attempt: on a `sqlite://` database,
/// the events the in-process bus gave up on (the running app's relay takes
/// them within `OUTBOX_POLL_MS`); otherwise the webhook deliveries of RabbitMQ's
/// dead-letter queue.
async fn replay_dead_letters() -> anyhow::Result<()> {
    let url = config::database_url_from_env()?;
    if let Some(path) = sqlite::path_of(&url) {
        let db = Sqlite::open(path, 1).await?;
        let events = sqlite::dead_letters::replay(&db).await?;
        let deliveries = sqlite::webhooks::replay_dead_letters(&db, chrono::Utc::now()).await?;
        println!("replayed {events} dead events and {deliveries} dead webhook deliveries");
        return Ok(());
    }
    let config = configuration()?;
    let broker = Broker::new(config.amqp_url.clone(), &config.amqp_exchange);
    let moved = webhooks::replay_dead_letters(&broker).await?;
    println!("replayed {moved} dead webhook deliveries");
    Ok(())
}

/// The whole configuration, read like `social` reads it (the embedded
/// database by default, the signing key from `./data/jwt-secret` when unset).
fn configuration() -> anyhow::Result<Config> {
    Ok(Config::from_env_or_key_file(std::path::Path::new("./data/jwt-secret"))?.0)
}

fn read_password() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']);
    Password::new(line).map_err(|e| anyhow::anyhow!("password {e}"))
}
