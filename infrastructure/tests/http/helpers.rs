//! Spawns the api (and notifier) on port 0 with a fresh database of the
//! binary's family: a SQLite file of its own (embedded), or a database of the
//! real PostgreSQL server and an exchange of the real RabbitMQ (served).

use infrastructure::app::{Application, Core, build_core};
use infrastructure::config::Config;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
pub const ADMIN: &str = "root_admin";
pub const ADMIN_PASSWORD: &str = "admin password";
pub const PASSWORD: &str = "correct horse";

/// Which adapters a test binary runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SQLite and the in-process bus, one process.
    Embedded,
    /// PostgreSQL and RabbitMQ.
    Served,
}

/// The file of an embedded test's database.
fn sqlite_file(database: &str) -> std::path::PathBuf {
    std::env::temp_dir().join("social-test-db").join(format!("{database}.db"))
}

/// The `DATABASE_URL` of a test database of this binary's family.
pub fn database_url(database: &str) -> String {
    match crate::FAMILY {
        Family::Served => format!("{}/{database}", server_url()),
        Family::Embedded => format!("sqlite://{}", sqlite_file(database).display()),
    }
}

/// The server that holds every test database: `TEST_DATABASE_URL`, else the local one.
fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Every test stores avatars in a directory of its own.
pub fn media_dir(database: &str) -> std::path::PathBuf {
    std::env::temp_dir().join("social-test-media").join(database)
}

/// Every test publishes to an exchange of its own, named after its database.
pub fn exchange_of(database: &str) -> String {
    format!("test.{database}")
}

/// The broker every test uses: `TEST_AMQP_URL`, else the local one.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Removes a test's exchanges and dead-letter queue.
async fn delete_topology(exchange: &str) -> Result<(), lapin::Error> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let connection = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let dead = format!("{exchange}.dead");
    channel.queue_delete(dead.as_str().into(), QueueDeleteOptions::default()).await?;
    let webhook_queues = ["events", "deliver", "dead", "wait", "retry.1", "retry.2", "retry.3", "retry.4"];
    for name in webhook_queues.map(|q| format!("{exchange}.webhooks.{q}")) {
        channel.queue_delete(name.as_str().into(), QueueDeleteOptions::default()).await?;
    }
    channel.exchange_delete(dead.as_str().into(), ExchangeDeleteOptions::default()).await?;
    channel.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await?;
    Ok(())
}

/// A running api with its own database, dropped with the value.
pub struct TestApp {
    pub address: String,
    /// The `pool` label of this app's password-hashing metrics.
    pub hash_pool: String,
    pub client: Client,
    pub database: String,
    /// What the api runs on; an embedded notifier must share it.
    pub core: Core,
    /// Only the instance that created the database drops it.
    owns_database: bool,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_owning(&format!("test_{}", uuid::Uuid::now_v7().simple())).await
}

/// A running notifier sharing a test app's database and exchange.
pub struct TestNotifier {
    pub port: u16,
    pub stopper: infrastructure::notifier::Stopper,
}

impl TestNotifier {
    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://127.0.0.1:{}/ws{query}", self.port)
    }
}

/// Starts a notifier for `app` and waits until it consumes events.
pub async fn spawn_notifier(app: &TestApp) -> TestNotifier {
    spawn_notifier_with(app, &[]).await
}

/// Starts a notifier for `app` with extra settings.
/// Served, it is an instance of its own on the app's database and exchange;
/// embedded, it runs on the app's core, as in the `social` process.
pub async fn spawn_notifier_with(app: &TestApp, overrides: &[(&str, &str)]) -> TestNotifier {
    use infrastructure::notifier::NotifierApp;
    let url = database_url(&app.database);
    let exchange = exchange_of(&app.database);
    let mut settings: HashMap<&str, &str> = HashMap::from([
        ("JWT_SECRET_KEY", JWT_SECRET),
        ("DATABASE_URL", url.as_str()),
        ("SERVER_ADDRESS", "127.0.0.1"),
        ("WEBSOCKET_PORT", "0"),
    ]);
    if crate::FAMILY == Family::Served {
        settings.insert("AMQP_EXCHANGE", exchange.as_str());
    }
    settings.extend(overrides.iter().copied());
    let config = Config::from_source(&settings).unwrap();
    let notifier = match crate::FAMILY {
        Family::Served => NotifierApp::build(config).await,
        Family::Embedded => NotifierApp::start(app.core.clone(), config).await,
    }
    .unwrap();
    let spawned = TestNotifier { port: notifier.port(), stopper: notifier.stopper() };
    tokio::spawn(notifier.run_until_stopped());
    wait_ready(&format!("http://127.0.0.1:{}", spawned.port)).await;
    spawned
}

/// Polls `/health/ready` until it answers 200 (10 s at most).
pub async fn wait_ready(base: &str) {
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(format!("{base}/health/ready")).await
            && response.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{base} never became ready");
}

/// Starts an api that owns (and will drop) `database`, for tests that start
/// another instance on it with other settings first.
pub async fn spawn_app_owning(database: &str) -> TestApp {
    spawn_owning(database, &[]).await
}

/// Starts an api with extra settings on a database of its own, which it drops.
pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_owning(&format!("test_{}", uuid::Uuid::now_v7().simple()), overrides).await
}

/// Starts an api with extra settings that owns (and will drop) `database`.
pub async fn spawn_owning(database: &str, overrides: &[(&str, &str)]) -> TestApp {
    let mut app = spawn_on(database, overrides).await;
    app.owns_database = true;
    app
}

/// Starts an api on `database` (created if missing) with extra settings; the
/// database outlives it.
pub async fn spawn_on(database: &str, overrides: &[(&str, &str)]) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        infrastructure::telemetry::init();
    }
    let url = database_url(database);
    let exchange = exchange_of(database);
    let media = media_dir(database);
    let media = media.to_str().unwrap();
    let mut settings: HashMap<&str, &str> = HashMap::from([
        ("MEDIA_DIR", media),
        ("JWT_SECRET_KEY", JWT_SECRET),
        ("DATABASE_URL", url.as_str()),
        ("SERVER_ADDRESS", "127.0.0.1"),
        ("SERVER_PORT", "0"),
        ("ADMIN_USERNAME", ADMIN),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        // Every test signs its users up and in from 127.0.0.1: only the
        // throttling tests, which set their own, come near a limit.
        ("LOGIN_MAX_FAILURES", "1000"),
        ("REGISTER_PER_HOUR", "100000"),
    ]);
    if crate::FAMILY == Family::Served {
        settings.insert("AMQP_EXCHANGE", exchange.as_str());
    }
    settings.extend(overrides.iter().copied());
    let config = Config::from_source(&settings).expect("test configuration");
    let core = build_core(&config).await.expect("the core starts");
    let application = Application::start(core.clone(), config).await.expect("the api starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let hash_pool = application.hash_pool().to_owned();
    tokio::spawn(application.run_until_stopped());
    TestApp { address, hash_pool, client: Client::new(), database: database.to_owned(), core, owns_database: false }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.owns_database {
            return;
        }
        let database = self.database.clone();
        let _ = std::fs::remove_dir_all(media_dir(&database));
        if crate::FAMILY == Family::Embedded {
            let file = sqlite_file(&database).into_os_string();
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
            return;
        }
        // Drop runs inside the test's runtime: do the async clean-up on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let (client, connection) =
                    tokio_postgres::connect(&format!("{}/postgres", server_url()), tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)")).await?;
                delete_topology(&exchange_of(&database)).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.database);
        }
    }
}

impl TestApp {
    /// A direct connection to this app's database, for assertions on stored rows.
    pub async fn db(&self) -> tokio_postgres::Client {
        let url = format!("{}/{}", server_url(), self.database);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    /// How many rows `sql` (a `SELECT count(*) ...` in SQL both databases
    /// understand) counts.
    pub async fn count(&self, sql: &str) -> i64 {
        match crate::FAMILY {
            Family::Served => self.db().await.query_one(sql, &[]).await.unwrap().get(0),
            Family::Embedded => {
                use diesel::{Connection, RunQueryDsl};
                #[derive(diesel::QueryableByName)]
                struct Count {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let file = sqlite_file(&self.database);
                let query = format!("SELECT ({sql}) AS n");
                tokio::task::spawn_blocking(move || {
                    let mut conn = diesel::SqliteConnection::establish(file.to_str().unwrap()).unwrap();
                    diesel::sql_query(query).get_result::<Count>(&mut conn).unwrap().n
                })
                .await
                .unwrap()
            }
        }
    }

    /// The `text` column of every row `sql` (SQL both databases understand)
    /// returns, in order.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        match crate::FAMILY {
            Family::Served => {
                self.db().await.query(sql, &[]).await.unwrap().iter().map(|row| row.get("text")).collect()
            }
            Family::Embedded => {
                use diesel::{Connection, RunQueryDsl};
                #[derive(diesel::QueryableByName)]
                struct Text {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    text: String,
                }
                let file = sqlite_file(&self.database);
                let query = sql.to_owned();
                tokio::task::spawn_blocking(move || {
                    let mut conn = diesel::SqliteConnection::establish(file.to_str().unwrap()).unwrap();
                    diesel::sql_query(query).load::<Text>(&mut conn).unwrap().into_iter().map(|row| row.text).collect()
                })
                .await
                .unwrap()
            }
        }
    }

    /// Outbox rows of one event type.
    pub async fn outbox(&self, event_type: &str) -> i64 {
        self.count(&format!("SELECT count(*) FROM outbox WHERE event_type = '{event_type}'")).await
    }

    /// Publishes a post and returns its JSON.
    pub async fn publish(&self, who: &Session, content: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/v1/posts"))
            .bearer_auth(&who.access)
            .json(&json!({"content": content}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "posting {content:?}");
        response.json().await.unwrap()
    }

    pub async fn follow(&self, who: &Session, whom: &Session) {
        let response = self
            .client
            .put(self.url(&format!("/api/v1/users/{}/follow", whom.id)))
            .bearer_auth(&who.access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// GETs a path as `who` and returns the JSON body (asserting 200).
    pub async fn get_json(&self, who: &Session, path: &str) -> Value {
        let response = self.get(path).bearer_auth(&who.access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }
}

/// The `id`s of a cursor page's `data`.
pub fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_owned()).collect()
}

/// A signed-in user.
pub struct Session {
    pub id: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.client.patch(self.url(path))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path))
    }

    pub async fn register(&self, username: &str) -> Response {
        self.post("/api/v1/auth/register")
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
    }

    pub async fn login_as(&self, username: &str, password: &str) -> Response {
        self.post("/api/v1/auth/login").json(&json!({"username": username, "password": password})).send().await.unwrap()
    }

    /// Logs in and returns the session; panics if that fails.
    pub async fn login(&self, username: &str, password: &str) -> Session {
        let response = self.login_as(username, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {username}");
        let tokens: Value = response.json().await.unwrap();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let me: Value = self.get("/api/v1/users/me").bearer_auth(&access).send().await.unwrap().json().await.unwrap();
        Session {
            id: me["id"].as_str().unwrap().to_owned(),
            access,
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Registers `username` and signs in.
    pub async fn signed_in(&self, username: &str) -> Session {
        assert_eq!(self.register(username).await.status(), StatusCode::CREATED, "register {username}");
        self.login(username, PASSWORD).await
    }

    pub async fn admin(&self) -> Session {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }
}

/// Asserts a problem+json answer with `status` and `code`; returns its body.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(response.headers().get("www-authenticate").unwrap(), "Bearer");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], "about:blank");
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// A test's WebSocket client.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for an event that should come.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens `who`'s socket on `notifier` with a bearer token; `query` is e.g. `?since=...`.
pub async fn connect(notifier: &TestNotifier, who: &Session, query: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = notifier.ws_url(query).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {}", who.access).parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

/// The next JSON event on `socket`.
pub async fn next_event(socket: &mut Socket) -> Value {
    use futures::StreamExt;
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next()).await.expect("an event in time").unwrap().unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}
