//! Load harness (not a test): starts the release binaries against a scratch
//! database and a private exchange, and measures one of two things.
//!
//! `--mode fan-out` (the default): connects N followers of one author over
//! WebSocket to the `notifier`, and measures
//!
//! * post -> delivery latency (p50, p99 over every delivery),
//! * time from a post to its last delivery,
//! * notifier RSS per idle connection.
//!
//! `--mode login-flood`: measures `GET /api/v1/users/me` on the `api` alone
//! (`--readers` connections for `--seconds`), then again while `--flooders`
//! connections send wrong-password logins (a new username each time), and
//! prints both, their ratio, how the flood was answered (count per status)
//! and the api's peak RSS.
//!
//! `--mode rest`: the REST hot paths beside `pgbench` on the same server
//! (see `bench_rest.rs`).
//!
//! `--mode queues`: RabbitMQ publish, deliver and relay rates with classic and
//! with quorum queues (see `bench_queues.rs`).
//!
//! `--mode peer --peer-bin <binary> --peer-src <checkout>`: the REST hot paths
//! beside the RealWorld actix-web + diesel example on the same server (see
//! `bench_peer.rs`).
//!
//! `cargo build --release --bins && target/release/bench --followers 1000`
//! `target/release/bench --mode login-flood`, `target/release/bench --mode rest`
//! PostgreSQL and RabbitMQ come from `DATABASE_SERVER` and `AMQP_URL`
//! (defaults: the local servers). The scratch database is dropped at the end.
//!
//! `--embedded` (fan-out and rest): the same measurements against `social` in
//! the embedded mode, one process on a SQLite file in a scratch folder (removed
//! at the end), seeded with the same data (see `bench_seed.rs`). Neither
//! PostgreSQL nor RabbitMQ is touched, except that the rest mode still runs
//! pgbench on the local PostgreSQL, if it answers, as a reference ceiling.

mod bench_peer;
mod bench_queues;
mod bench_rest;
mod bench_seed;
mod bench_wrk;

use anyhow::{Context, bail};
use bench_seed::Seed;
use clap::Parser;
use futures::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "bench-secret-bench-secret-bench-secret";

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Post -> WebSocket delivery to many followers.
    FanOut,
    /// GET /users/me alone, then during a flood of wrong-password logins.
    LoginFlood,
    /// The REST hot paths beside pgbench's ceilings on the same server.
    Rest,
    /// RabbitMQ rates, classic beside quorum queues.
    Queues,
    /// The REST hot paths beside the RealWorld actix-web + diesel example.
    Peer,
}

#[derive(Parser)]
#[command(about = "Measures the post -> WebSocket fan-out of a local api + notifier, or the api under a login flood")]
struct Args {
    #[arg(long, value_enum, default_value_t = Mode::FanOut)]
    mode: Mode,
    /// login-flood: connections reading GET /users/me.
    #[arg(long, default_value_t = 32)]
    readers: usize,
    /// login-flood: connections sending wrong-password logins.
    #[arg(long, default_value_t = 64)]
    flooders: usize,
    /// login-flood, rest: seconds of each measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// rest: connections per measured path.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// rest: only the rows whose path contains one of these (e.g. `timeline,POST`);
    /// all rows when absent. Handy when profiling one path.
    #[arg(long, value_delimiter = ',')]
    paths: Vec<String>,
    /// rest: record a system-wide `perf` profile of each measured row into this
    /// folder (`<row>.data`, cpu-clock samples with call graphs; read it with
    /// `perf report -i` or fold it into a flame graph with inferno).
    #[arg(long)]
    perf: Option<PathBuf>,
    /// rest: the load client. `wrk` (Debian's package) costs the shared cores
    /// far less per request than the harness's own reqwest loop.
    #[arg(long, value_enum, default_value_t = bench_wrk::LoadClient::Wrk)]
    client: bench_wrk::LoadClient,
    /// login-flood: LOGIN_MAX_FAILURES of the api (a huge value takes the
    /// throttle out of the way, so that every login reaches the hashing pool).
    #[arg(long)]
    login_max_failures: Option<u32>,
    /// login-flood: HASH_WORKERS of the api (default: its own, the core count).
    #[arg(long)]
    hash_workers: Option<usize>,
    /// login-flood: HASH_QUEUE of the api (default: its own, 64).
    #[arg(long)]
    hash_queue: Option<usize>,
    /// peer: the peer's release binary (`conduit`).
    #[arg(long)]
    peer_bin: Option<PathBuf>,
    /// peer: the peer's source checkout (its `migrations/` make its schema).
    #[arg(long)]
    peer_src: Option<PathBuf>,
    /// queues: messages per measurement.
    #[arg(long, default_value_t = 50_000)]
    messages: usize,
    /// Connected followers of the posting author.
    #[arg(long, default_value_t = 1000)]
    followers: usize,
    /// Posts published during the measurement.
    #[arg(long, default_value_t = 50)]
    posts: usize,
    /// Posts per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// actix workers of the notifier.
    #[arg(long, default_value_t = 1)]
    notifier_workers: usize,
    /// Concurrent WebSocket handshakes while connecting.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
    /// fan-out, rest: measure `social` in the embedded mode (SQLite, in-process
    /// bus) instead of `api` + `notifier` on PostgreSQL and RabbitMQ.
    #[arg(long)]
    embedded: bool,
}

/// Where the measured services run.
pub enum Target {
    /// `api` and `notifier` on a scratch PostgreSQL database and a private exchange.
    Served { server: String, database_url: String, exchange: String },
    /// `social` alone, on `bench.db` in a scratch folder.
    Embedded { folder: PathBuf },
}

impl Target {
    fn is_embedded(&self) -> bool {
        matches!(self, Self::Embedded { .. })
    }

    /// Writes `seed` straight into the database the services use.
    async fn write(&self, seed: &Seed) -> anyhow::Result<()> {
        match self {
            Self::Served { database_url, .. } => seed.write_postgres(database_url).await,
            Self::Embedded { folder } => tokio::task::block_in_place(|| seed.write_sqlite(&folder.join("bench.db"))),
        }
    }
}

#[derive(Deserialize)]
struct FrameId {
    id: String,
}

struct Services {
    children: Vec<Child>,
    api: String,
    notifier: String,
    notifier_pid: u32,
}

impl Drop for Services {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("bench has no directory")?.join(name);
    if !path.exists() {
        bail!("{} not found: build it first (cargo build --release --bins)", path.display());
    }
    Ok(path)
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(response) = reqwest::get(format!("{base}/health/ready")).await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{base} never became ready")
}

/// The api and the notifier, ready: `api` then `notifier` (served), or `social` (embedded).
async fn start(target: &Target, workers: usize, args: Option<&Args>) -> anyhow::Result<Services> {
    let (database_url, exchange) = match target {
        Target::Served { database_url, exchange, .. } => (database_url, exchange),
        Target::Embedded { folder } => return start_social(folder, workers, args).await,
    };
    let (api_port, ws_port) = (free_port()?, free_port()?);
    let spawn = |binary: &str| -> anyhow::Result<Child> {
        Ok(Command::new(sibling(binary)?)
            .env("DATABASE_URL", database_url)
            .env("AMQP_EXCHANGE", exchange)
            .env("JWT_SECRET_KEY", SECRET)
            .env("SERVER_ADDRESS", "127.0.0.1")
            .env("SERVER_PORT", api_port.to_string())
            .env("WEBSOCKET_PORT", ws_port.to_string())
            .env("NOTIFIER_WORKERS", workers.to_string())
            .env("POST_DAILY_LIMIT", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?)
    };
    let api = spawn("api")?;
    let mut services = Services {
        children: vec![api],
        api: format!("http://127.0.0.1:{api_port}"),
        notifier: format!("127.0.0.1:{ws_port}"),
        notifier_pid: 0,
    };
    wait_ready(&services.api).await?; // the api creates and migrates the database
    let notifier = spawn("notifier")?;
    services.notifier_pid = notifier.id();
    services.children.push(notifier);
    wait_ready(&format!("http://{}", services.notifier)).await?;
    Ok(services)
}

/// `social` in the embedded mode on `folder/bench.db` (created and migrated
/// by it), no AMQP settings, ready on both of its ports. Run in `folder`, so
/// that no `.env` of the working directory is read.
async fn start_social(folder: &std::path::Path, workers: usize, args: Option<&Args>) -> anyhow::Result<Services> {
    let (api_port, ws_port) = (free_port()?, free_port()?);
    let database = folder.join("bench.db");
    let database = database.to_str().context("the scratch folder's path is not UTF-8")?;
    let mut command = Command::new(sibling("social")?);
    command
        .current_dir(folder)
        .env_remove("AMQP_URL")
        .env_remove("AMQP_EXCHANGE")
        .env("DATABASE_URL", format!("sqlite://{database}"))
        .env("JWT_SECRET_KEY", SECRET)
        .env("SERVER_ADDRESS", "127.0.0.1")
        .env("SERVER_PORT", api_port.to_string())
        .env("WEBSOCKET_PORT", ws_port.to_string())
        .env("NOTIFIER_WORKERS", workers.to_string())
        .env("POST_DAILY_LIMIT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    if let Some(args) = args {
        login_settings(&mut command, args);
    }
    let social = command.spawn()?;
    let pid = social.id();
    let services = Services {
        children: vec![social],
        api: format!("http://127.0.0.1:{api_port}"),
        notifier: format!("127.0.0.1:{ws_port}"),
        notifier_pid: pid,
    };
    wait_ready(&services.api).await?;
    wait_ready(&format!("http://{}", services.notifier)).await?;
    Ok(services)
}

/// One author and `followers` users following them, written straight to the
/// database: the author's id and the followers'.
async fn seed(target: &Target, followers: usize) -> anyhow::Result<(String, Vec<String>)> {
    let seed = Seed::fan_out(followers);
    target.write(&seed).await?;
    let mut ids = seed.user_ids().into_iter();
    let author = ids.next().context("the seed has no author")?;
    Ok((author, ids.collect()))
}

fn token(user: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": user, "role": "user", "jti": uuid::Uuid::now_v7(), "iat": now, "exp": now + 3600, "iss": "social"});
    Ok(encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))?)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    proc_status_kib(pid, "VmRSS:")
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS:` now, `VmHWM:` the peak so far).
fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field}"))?;
    Ok(line.split_whitespace().nth(1).with_context(|| format!("bad {field}"))?.parse()?)
}

type Arrivals = mpsc::UnboundedSender<(String, Instant)>;

/// Opens one follower socket and reports every frame's id with its arrival time.
async fn follower(url: String, token: String, arrivals: Arrivals) -> anyhow::Result<()> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    tokio::spawn(async move {
        let (_, mut reader) = socket.split();
        while let Some(Ok(message)) = reader.next().await {
            if let Message::Text(text) = message {
                let at = Instant::now();
                if let Ok(frame) = serde_json::from_str::<FrameId>(&text) {
                    let _ = arrivals.send((frame.id, at));
                }
            }
        }
    });
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The PostgreSQL server (`DATABASE_SERVER`, default the local one).
fn database_server() -> String {
    std::env::var("DATABASE_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stamp = chrono::Utc::now().timestamp_millis();
    if args.embedded {
        return embedded(&args, stamp).await;
    }
    let server = database_server();
    if args.mode == Mode::Queues {
        return bench_queues::queues(args.messages, &server, stamp).await;
    }
    let database = format!("bench_{stamp}");
    let database_url = format!("{server}/{database}");
    let exchange = format!("bench.{stamp}");
    let target = Target::Served { server: server.clone(), database_url, exchange: exchange.clone() };
    let result = run(&args, &target).await;
    let (client, connection) = tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)")).await?;
    remove_exchange(&exchange).await?;
    result
}

/// The run against `social` on a SQLite file in a scratch folder, removed at the end.
async fn embedded(args: &Args, stamp: i64) -> anyhow::Result<()> {
    if args.mode == Mode::LoginFlood {
        bail!("--embedded measures --mode fan-out and --mode rest");
    }
    let folder = std::env::temp_dir().join(format!("bench_embedded_{stamp}_{}", std::process::id()));
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let result = run(args, &Target::Embedded { folder: folder.clone() }).await;
    let removed = std::fs::remove_dir_all(&folder).with_context(|| format!("removing {}", folder.display()));
    result.and(removed)
}

/// Removes the run's exchanges and dead-letter queue from RabbitMQ.
async fn remove_exchange(exchange: &str) -> anyhow::Result<()> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let url = std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let dead = format!("{exchange}.dead");
    channel.queue_delete(dead.as_str().into(), QueueDeleteOptions::default()).await?;
    // The api's webhook pipeline declares durable queues named after the
    // exchange (its retries: one per attempt of the default WEBHOOK_MAX_RETRY).
    let webhooks = ["events", "deliver", "dead", "wait", "retry.1", "retry.2", "retry.3", "retry.4"];
    for name in webhooks.map(|name| format!("{exchange}.webhooks.{name}")) {
        channel.queue_delete(name.as_str().into(), QueueDeleteOptions::default()).await?;
    }
    channel.exchange_delete(dead.as_str().into(), ExchangeDeleteOptions::default()).await?;
    channel.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await?;
    Ok(())
}

async fn run(args: &Args, target: &Target) -> anyhow::Result<()> {
    match args.mode {
        Mode::FanOut => fan_out(args, target).await,
        Mode::LoginFlood => login_flood(args, target).await,
        Mode::Rest => bench_rest::rest(args, target).await,
        Mode::Peer => bench_peer::peer(args, target).await,
        Mode::Queues => bail!("--mode queues runs before any service starts"),
    }
}

async fn fan_out(args: &Args, target: &Target) -> anyhow::Result<()> {
    let services = start(target, args.notifier_workers, None).await?;
    let (author, followers) = seed(target, args.followers).await?;
    // The api and notifier read AMQP_URL from the environment the bench was started in.
    let rss_idle = rss_kib(services.notifier_pid)?;

    let (arrivals, mut received) = mpsc::unbounded_channel();
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let url = format!("ws://{}/ws", services.notifier);
    let mut handshakes = Vec::with_capacity(followers.len());
    for user in &followers {
        let permit = Arc::clone(&gate).acquire_owned().await?;
        let (url, token, arrivals) = (url.clone(), token(user)?, arrivals.clone());
        handshakes.push(tokio::spawn(async move {
            let opened = follower(url, token, arrivals).await;
            drop(permit);
            opened
        }));
    }
    for handshake in handshakes {
        handshake.await??;
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = rss_kib(services.notifier_pid)?;

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let http = reqwest::Client::new();
    let author_token = token(&author)?;
    let pause = Duration::from_secs_f64(1.0 / args.rate);
    for n in 0..args.posts {
        let at = Instant::now();
        let response = http
            .post(format!("{}/api/v1/posts", services.api))
            .bearer_auth(&author_token)
            .json(&json!({"content": format!("bench post {n}")}))
            .send()
            .await?;
        if response.status().as_u16() != 201 {
            bail!("post {n} answered {}", response.status());
        }
        let post: serde_json::Value = response.json().await?;
        sent.lock().await.insert(post["id"].as_str().unwrap_or_default().to_owned(), at);
        tokio::time::sleep(pause.saturating_sub(at.elapsed())).await;
    }

    let expected = args.posts * args.followers;
    let mut latencies = Vec::with_capacity(expected);
    let mut last: HashMap<String, Duration> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while latencies.len() < expected {
        let Ok(Some((id, at))) = tokio::time::timeout_at(deadline.into(), received.recv()).await else { break };
        if let Some(sent_at) = sent.lock().await.get(&id) {
            let latency = at.duration_since(*sent_at);
            latencies.push(latency);
            let slot = last.entry(id).or_default();
            *slot = (*slot).max(latency);
        }
    }
    latencies.sort();
    let mut to_last: Vec<Duration> = last.into_values().collect();
    to_last.sort();

    let per_connection = rss_connected.saturating_sub(rss_idle) as f64 / args.followers as f64;
    let process = if target.is_embedded() {
        println!(
            "(embedded: `social` on SQLite, in-process bus; api and notifier are one process, whose RSS is shown)"
        );
        "social"
    } else {
        "notifier"
    };
    println!(
        "| followers | posts | rate/s | deliveries | p50 | p99 | max | post -> last delivery (median / max) | connect all | {process} RSS idle -> connected | per connection |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {}/{} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms / {:.1} ms | {:.2} s | {} -> {} KiB | {:.1} KiB |",
        args.followers,
        args.posts,
        args.rate,
        latencies.len(),
        expected,
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        percentile(&to_last, 50.0).as_secs_f64() * 1e3,
        to_last.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        connect_time.as_secs_f64(),
        rss_idle,
        rss_connected,
        per_connection,
    );
    drop(services);
    Ok(())
}

/// The api's throttle and hashing settings given on the command line.
fn login_settings(command: &mut Command, args: &Args) {
    if let Some(max) = args.login_max_failures {
        command.env("LOGIN_MAX_FAILURES", max.to_string());
    }
    if let Some(workers) = args.hash_workers {
        command.env("HASH_WORKERS", workers.to_string());
    }
    if let Some(queue) = args.hash_queue {
        command.env("HASH_QUEUE", queue.to_string());
    }
}

/// The api alone, with the flood's settings, and its pid (embedded: `social`,
/// which serves the notifier too).
async fn start_api(args: &Args, target: &Target) -> anyhow::Result<(Services, u32)> {
    let (database_url, exchange) = match target {
        Target::Served { database_url, exchange, .. } => (database_url, exchange),
        Target::Embedded { .. } => {
            let services = start(target, args.notifier_workers, Some(args)).await?;
            let pid = services.notifier_pid;
            return Ok((services, pid));
        }
    };
    let port = free_port()?;
    let mut command = Command::new(sibling("api")?);
    command
        .env("DATABASE_URL", database_url)
        .env("AMQP_EXCHANGE", exchange)
        .env("JWT_SECRET_KEY", SECRET)
        .env("SERVER_ADDRESS", "127.0.0.1")
        .env("SERVER_PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    login_settings(&mut command, args);
    let api = command.spawn()?;
    let pid = api.id();
    let services = Services {
        children: vec![api],
        api: format!("http://127.0.0.1:{port}"),
        notifier: String::new(),
        notifier_pid: 0,
    };
    wait_ready(&services.api).await?;
    Ok((services, pid))
}

/// Throughput and latency of one path over one measurement.
struct Reads {
    requests: usize,
    failures: usize,
    /// Failures per status (0 = no answer).
    failed: BTreeMap<u16, usize>,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// `readers` connections reading GET /users/me back to back for `seconds`.
async fn read_me(api: &str, token: &str, readers: usize, seconds: u64) -> anyhow::Result<Reads> {
    let (url, token) = (format!("{api}/api/v1/users/me"), token.to_owned());
    bench_rest::load(readers, seconds, Arc::new(move |http, _| http.get(&url).bearer_auth(&token))).await
}

/// `flooders` connections sending wrong-password logins, a new username each
/// time, until `stop`; answers the count per status (0 = no answer).
async fn flood(api: String, flooders: usize, stop: Arc<AtomicBool>) -> anyhow::Result<BTreeMap<u16, u64>> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let url = format!("{api}/api/v1/auth/login");
    let tasks: Vec<_> = (0..flooders)
        .map(|flooder| {
            let (http, url, stop) = (http.clone(), url.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let body = json!({"username": format!("flood{flooder}x{n}"), "password": "wrong password"});
                    let status = match http.post(&url).json(&body).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    *statuses.entry(status).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut total = BTreeMap::new();
    for task in tasks {
        for (status, count) in task.await? {
            *total.entry(status).or_default() += count;
        }
    }
    Ok(total)
}

async fn login_flood(args: &Args, target: &Target) -> anyhow::Result<()> {
    let (services, pid) = start_api(args, target).await?;
    // The reader is written straight to the database and given a token: reading costs no hash.
    let (reader, _) = seed(target, 0).await?;
    let token = token(&reader)?;
    let rss_idle = rss_kib(pid)?;

    let alone = read_me(&services.api, &token, args.readers, args.seconds).await?;
    let rss_before_flood = proc_status_kib(pid, "VmHWM:")?;

    let stop = Arc::new(AtomicBool::new(false));
    let flooding = tokio::spawn(flood(services.api.clone(), args.flooders, Arc::clone(&stop)));
    // Let the flood reach its steady state (throttle engaged, hash queue full) before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = read_me(&services.api, &token, args.readers, args.seconds).await?;
    stop.store(true, Ordering::Relaxed);
    let answered = flooding.await??;
    let rss_peak = proc_status_kib(pid, "VmHWM:")?;
    let flood_seconds = args.seconds as f64 + 1.0;
    let logins: u64 = answered.values().sum();

    let statuses = answered.iter().map(|(status, count)| format!("{status}: {count}")).collect::<Vec<_>>().join(", ");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| readers | flooders | /me alone: req/s, p50, p99 | /me under the flood: req/s, p50, p99 | ratio | flood answered (about {:.0} s) | logins/s | api RSS idle / peak before flood / peak |",
        flood_seconds
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.0}, {:.2} ms, {:.2} ms | {:.0}, {:.2} ms, {:.2} ms | {:.0} % | {} | {:.0} | {} / {} / {} KiB |",
        args.readers,
        args.flooders,
        alone.per_second,
        ms(alone.p50),
        ms(alone.p99),
        during.per_second,
        ms(during.p50),
        ms(during.p99),
        100.0 * during.per_second / alone.per_second.max(1e-9),
        statuses,
        logins as f64 / flood_seconds,
        rss_idle,
        rss_before_flood,
        rss_peak,
    );
    if alone.failures + during.failures > 0 {
        println!("(GET /users/me failures: {} alone, {} under the flood)", alone.failures, during.failures);
    }
    println!("({} and {} reads measured)", alone.requests, during.requests);
    drop(services);
    Ok(())
}
