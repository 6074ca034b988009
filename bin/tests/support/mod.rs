//! What the process tests share: scratch databases, free ports, waiting for
//! readiness, signals.

#![allow(dead_code, reason = "each test binary uses its own part of this")]

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
pub const KEY: &str = "startup-test-key-0123456789abcdef0123456789";

/// Kills its processes, drops its database and removes its exchange when dropped.
pub struct Scratch {
    pub database: String,
    pub children: Vec<Child>,
}

impl Scratch {
    pub fn new() -> Self {
        Self { database: format!("test_{}", uuid::Uuid::now_v7().simple()), children: Vec::new() }
    }

    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.database)
    }

    pub fn exchange(&self) -> String {
        format!("test.{}", self.database)
    }

    /// A command for `binary` on this database, exchange and free ports.
    pub fn command(&self, binary: &str) -> (Command, u16, u16) {
        let (mut command, api, ws) = bare_command(binary);
        command.env("DATABASE_URL", self.url()).env("AMQP_EXCHANGE", self.exchange()).env("RUST_LOG", "warn");
        if let Ok(amqp) = std::env::var("TEST_AMQP_URL") {
            command.env("AMQP_URL", amqp);
        }
        (command, api, ws)
    }

    pub fn spawn(&mut self, mut command: Command) {
        self.children.push(command.spawn().unwrap());
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let (database, exchange) = (self.database.clone(), self.exchange());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let (client, connection) =
                    tokio_postgres::connect(&format!("{SERVER}/postgres"), tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(connection);
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)")).await;
                let _ = remove_exchange(&exchange).await;
            });
        })
        .join();
    }
}

pub async fn remove_exchange(exchange: &str) -> Result<(), lapin::Error> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let url = std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let queues = ["dead", "webhooks.events", "webhooks.deliver", "webhooks.wait", "webhooks.dead"]
        .into_iter()
        .map(str::to_owned)
        .chain((1..=4).map(|n| format!("webhooks.retry.{n}")));
    for queue in queues {
        channel.queue_delete(format!("{exchange}.{queue}").as_str().into(), QueueDeleteOptions::default()).await?;
    }
    for name in [format!("{exchange}.dead"), exchange.to_owned()] {
        channel.exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default()).await?;
    }
    connection.close(200, "done".into()).await
}

/// `binary` with no environment but `PATH`, on free loopback ports (api,
/// notifier), its output discarded.
fn bare_command(binary: &str) -> (Command, u16, u16) {
    let (api, ws) = (free_port(), free_port());
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SERVER_ADDRESS", "127.0.0.1")
        .env("SERVER_PORT", api.to_string())
        .env("WEBSOCKET_PORT", ws.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    (command, api, ws)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (30 s at most) for `/health/ready` on `port`; `false` if `child` exits first.
pub async fn ready(port: u16, child: &mut Child) -> bool {
    for _ in 0..300 {
        if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/health/ready")).await
            && response.status().is_success()
        {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub fn run_briefly(mut command: Command) -> Output {
    command.stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    child.wait_with_output().unwrap()
}

pub async fn login_token(port: u16) -> String {
    let client = reqwest::Client::new();
    let credentials = serde_json::json!({"username": "alice", "password": "correct horse"});
    let base = format!("http://127.0.0.1:{port}/api/v1/auth");
    let _ = client.post(format!("{base}/register")).json(&credentials).send().await.unwrap();
    let tokens: serde_json::Value =
        client.post(format!("{base}/login")).json(&credentials).send().await.unwrap().json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

pub async fn me_status(port: u16, token: &str) -> reqwest::StatusCode {
    let url = format!("http://127.0.0.1:{port}/api/v1/users/me");
    reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().status()
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

/// Waits (15 s at most) for `child` to exit and returns its stderr.
pub fn exit_output(child: Child) -> Output {
    let (done, finished) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(Duration::from_secs(15)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("process {pid} did not exit after the signal");
        }
    }
}

/// A folder of its own for binaries started the way a newcomer starts them:
/// no environment but `PATH`, the folder as working directory (where `./data`
/// goes). Kills its processes and removes the folder when dropped. Touches no
/// server.
pub struct Home {
    pub dir: std::path::PathBuf,
    pub children: Vec<Child>,
}

impl Home {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("social-home-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, children: Vec::new() }
    }

    /// A command for `binary` in this folder, on free loopback ports.
    pub fn command(&self, binary: &str) -> (Command, u16, u16) {
        let (mut command, api, ws) = bare_command(binary);
        command.env("RUST_LOG", "info").current_dir(&self.dir);
        (command, api, ws)
    }

    pub fn spawn(&mut self, mut command: Command) {
        self.children.push(command.spawn().unwrap());
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The remote TCP ports `pid` holds connections to, read from /proc.
pub fn remote_ports(pid: u32) -> Vec<u16> {
    let sockets: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(inode)) = (fields.get(2), fields.get(9)) else { continue };
            let port = remote.rsplit(':').next().and_then(|hex| u16::from_str_radix(hex, 16).ok()).unwrap_or(0);
            if port != 0 && sockets.contains(*inode) {
                ports.push(port);
            }
        }
    }
    ports
}
