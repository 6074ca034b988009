//! Operator commands: `ctl migrate`, `ctl create-admin <username>`.

use anyhow::{Context, bail};
use application::user::{AdminBootstrap, UserService};
use clap::{Parser, Subcommand};
use domain::{Password, Username};
use infrastructure::app::build_core;
use infrastructure::config::{self, Config};
use infrastructure::messaging::Broker;
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
    /// Create the database if missing and apply pending migrations (needs DATABASE_URL).
    Migrate,
    /// Create an admin account. The password is read from the first line of
    /// standard input, so it never shows in the process list or shell history.
    CreateAdmin {
        /// 3-30 characters of A-Z, a-z, 0-9 and _.
        username: String,
    },
    /// Dead letters of webhook deliveries.
    Dlq {
        #[command(subcommand)]
        command: Dlq,
    },
}

#[derive(Subcommand)]
enum Dlq {
    /// Move every dead webhook delivery back to the delivery queue (needs AMQP_URL, AMQP_EXCHANGE).
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
            persistence::connect(&url, 1).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Dlq { command: Dlq::Replay } => {
            let config = Config::from_env()?;
            let broker = Broker::new(config.amqp_url.clone(), &config.amqp_exchange);
            let moved = webhooks::replay_dead_letters(&broker).await?;
            println!("replayed {moved} dead webhook deliveries");
            Ok(())
        }
        Command::CreateAdmin { username } => {
            let username = Username::new(&username).map_err(|e| anyhow::anyhow!("username {e}"))?;
            let password = read_password()?;
            let config = Config::from_env()?;
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

fn read_password() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']);
    Password::new(line).map_err(|e| anyhow::anyhow!("password {e}"))
}
