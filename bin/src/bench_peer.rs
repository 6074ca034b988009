//! `bench --mode peer --peer-bin <binary> --peer-src <checkout>`: our REST hot
//! paths beside the same paths of a peer, the public RealWorld example
//! `snamiki1212/realworld-v1-rust-actix-web-diesel` (actix-web, diesel with an
//! r2d2 pool, bcrypt, plain CRUD: no outbox), measured in one run, back to
//! back, with the same load client on the same PostgreSQL server.
//!
//! Ours: the release `api` on a scratch database, seeded as `--mode rest` does
//! (1,000 users each following the next 20, 100 posts each), rows
//! `POST /api/v1/posts` (a random author of the 1,000), `GET /api/v1/posts/{id}`,
//! `GET /api/v1/timeline` and `GET /api/v1/users/me`. Then the api is stopped
//! and the peer started on a scratch database of its own, its schema made by
//! its own `migrations/*/up.sql` (read from `--peer-src`, never copied here),
//! seeded with the same shape written straight into its tables (the same
//! [`Seed`]: its users, follows and posts as articles, titled as the posts'
//! contents, slugged as the peer slugs them), rows `POST /api/articles` (a
//! random author, a title of its own per request, so no two slugs collide),
//! `GET /api/articles/{slug}`, `GET /api/articles/feed` and `GET /api/user`.
//! Each side measures its reads first (on the seed as written, vacuumed and
//! analyzed), then its writes; `--connections` connections for `--seconds`
//! per row (`bench_rest::load`), with the CPU time the server process and all
//! `postgres` processes spent per request (and, apart, only the PostgreSQL
//! processes that serve that side: see [`own_postgres`]), and, from
//! PostgreSQL's statistics,
//! the transactions of that side's database per request (a statement outside
//! a transaction counts as one, so for the peer, which uses none on these
//! paths, it is its statement count) and the server's WAL records and WAL
//! syncs per request (`pg_stat_wal`). Before measuring, three requests of
//! each row (the very requests the load sends, with numbers of their own) are
//! checked for their status and the shape of their body, and one peer user
//! logs in with the seed's password, which proves its bcrypt hash valid.
//!
//! How the peer runs, and why (chosen to be fair to it):
//!
//! * Its release build, `cargo build --release` of its own lock file. Its
//!   `main` sets `RUST_LOG=actix_web=trace` unconditionally and wraps the app
//!   in actix's `Logger`: one line on stderr per request, where our api runs
//!   with `RUST_LOG=warn` (no line per request, as in every other mode). So
//!   that both are equally quiet, build it with that line made conditional
//!   (`if std::env::var_os("RUST_LOG").is_none() { ... }`, see BENCHMARKS.md);
//!   the harness starts it with `RUST_LOG=warn` and counts the lines it wrote
//!   anyway, printed after the table (an unpatched build writes one per
//!   request).
//! * Its default pool: r2d2's defaults (10 connections, a `SELECT 1` test on
//!   every checkout). Not a bug, so not changed. Its diesel calls block the
//!   actix worker that runs the request, and actix starts one worker per core
//!   (2 here), so at most two requests are in a database call at a time,
//!   whatever the pool: that is its design, measured as it is.
//! * It binds `0.0.0.0:8080`, fixed in its source: the harness refuses to run
//!   if that port is taken. It runs in a scratch folder (no `.env` of ours is
//!   read: it calls `dotenv()`), with `DATABASE_URL`, `SECRET_KEY` and
//!   `FRONTEND_ORIGIN` set.
//! * Tokens are minted by the harness as the peer makes them (HS256 with
//!   `SECRET_KEY`, claims `{exp, iat, user_id}`, sent as
//!   `Authorization: Token <jwt>`), as ours are for our api: neither side
//!   hashes a password during the load. Its passwords are one bcrypt hash of
//!   cost 12 (the peer's `DEFAULT_COST`), computed once.
//!
//! The peer's feed lists its caller's followed authors' articles (20 authors,
//! 20 per page, plus a count of all 2,000); our timeline also holds the
//! caller's own posts (21 authors, 20 per page). Our api keeps its default
//! daily quota (100 posts per author, as in `--mode rest`): the 1,000 authors
//! have room for 100,000 posts, about a minute of the POST row at today's
//! rates, so a much longer `--seconds` would measure 429s (counted as
//! failures). The scratch databases are dropped and the processes stopped at
//! the end, also on error.

use anyhow::{Context, bail};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::bench_rest::{self, MakeRequest};
use crate::bench_seed::Seed;
use crate::{Args, Reads, Target, start_api, token};

/// The peer's `SECRET_KEY` for the run.
const PEER_SECRET: &str = "bench-peer-secret-bench-peer-secret";
/// Where the peer listens: `0.0.0.0:8080` is fixed in its source.
const PEER_PORT: u16 = 8080;
/// bcrypt of `bench password`, cost 12 (the peer's `DEFAULT_COST`), computed
/// once with libxcrypt's `crypt(3)`; checked by one login before measuring.
const PEER_PASSWORD_HASH: &str = "$2b$12$abcdefghijklmnopqrstuu7SNRkP55uKN10EYQ9H5gDsGsNDBRrnW";
const PEER_PASSWORD: &str = "bench password";

/// The four rows, in the order they are printed; each side measures them in
/// [`MEASURED`] order (reads on the seed as written, then the write).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RowKind {
    Post,
    One,
    Feed,
    Me,
}

const MEASURED: [RowKind; 4] = [RowKind::One, RowKind::Feed, RowKind::Me, RowKind::Post];

impl RowKind {
    fn ours(self) -> &'static str {
        match self {
            Self::Post => "POST /api/v1/posts",
            Self::One => "GET /api/v1/posts/{id}",
            Self::Feed => "GET /api/v1/timeline",
            Self::Me => "GET /api/v1/users/me",
        }
    }

    fn peer(self) -> &'static str {
        match self {
            Self::Post => "POST /api/articles",
            Self::One => "GET /api/articles/{slug}",
            Self::Feed => "GET /api/articles/feed",
            Self::Me => "GET /api/user",
        }
    }

    /// Whether `--paths` selects this row (a word found in either side's label).
    fn selected(self, args: &Args) -> bool {
        args.paths.is_empty()
            || args
                .paths
                .iter()
                .any(|wanted| self.ours().contains(wanted.as_str()) || self.peer().contains(wanted.as_str()))
    }
}

/// One row of one side.
struct Measured {
    reads: Reads,
    server_cpu_us: f64,
    /// Every `postgres` process of the machine (as `--mode rest` counts).
    postgres_cpu_us: f64,
    /// Only the processes that serve this side: see [`own_postgres`].
    own_postgres_cpu_us: f64,
    /// PostgreSQL's counters over the row, per request.
    counters: Counters,
}

/// PostgreSQL's own counters: the transactions of one database (committed or
/// rolled back; each statement outside a transaction is one), and the
/// server's WAL records and WAL syncs (`pg_stat_wal`: server-wide, so other
/// work on the server counts too).
#[derive(Clone, Copy, Default)]
struct Counters {
    transactions: f64,
    wal_records: f64,
    wal_syncs: f64,
}

impl Counters {
    /// The counters now. Backends report theirs at most once a second, and
    /// within a second of going idle: that is waited out first.
    async fn read(client: &tokio_postgres::Client, database: &str) -> anyhow::Result<Self> {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let row = client
            .query_one(
                "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1)::float8,
                        wal_records::float8, wal_sync::float8
                 FROM pg_stat_wal",
                &[&database],
            )
            .await?;
        Ok(Self { transactions: row.try_get(0)?, wal_records: row.try_get(1)?, wal_syncs: row.try_get(2)? })
    }

    fn per_request(self, before: Self, requests: usize) -> Self {
        let n = requests.max(1) as f64;
        Self {
            transactions: (self.transactions - before.transactions) / n,
            wal_records: (self.wal_records - before.wal_records) / n,
            wal_syncs: (self.wal_syncs - before.wal_syncs) / n,
        }
    }
}

/// A request of a row, and what a correct answer to it looks like.
struct Row {
    path: RowKind,
    make: MakeRequest,
    status: u16,
    shape: fn(&Value) -> bool,
}

/// A scratch database of the server, dropped (`WITH (FORCE)`) when this is.
struct ScratchDatabase {
    server: String,
    name: String,
}

impl ScratchDatabase {
    async fn create(server: &str, name: String) -> anyhow::Result<Self> {
        let (client, connection) =
            tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(Self { server: server.to_owned(), name })
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for ScratchDatabase {
    /// Synchronous (`psql`), so that it also runs while an error unwinds.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let url = format!("{}/postgres", self.server);
        let dropped = Command::new("psql").args(["-qX", &url, "-c", &sql]).stdout(Stdio::null()).status();
        if !matches!(dropped, Ok(status) if status.success()) {
            eprintln!("could not drop the scratch database {} (drop it by hand)", self.name);
        }
    }
}

/// The running peer, stopped (and its scratch folder removed) when this is dropped.
struct Peer {
    child: Child,
    folder: PathBuf,
    base: String,
}

impl Peer {
    /// The lines the peer wrote on stderr so far.
    fn log_lines(&self) -> usize {
        std::fs::read(self.folder.join("stderr.log")).map_or(0, |log| log.iter().filter(|&&b| b == b'\n').count())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

pub async fn peer(args: &Args, target: &Target) -> anyhow::Result<()> {
    let Target::Served { server, .. } = target else { bail!("--mode peer measures the served api (no --embedded)") };
    let binary = args.peer_bin.as_deref().context("--mode peer needs --peer-bin <the peer's release binary>")?;
    let source = args.peer_src.as_deref().context("--mode peer needs --peer-src <the peer's source checkout>")?;
    if !binary.is_file() {
        bail!("{}: no such binary (build the peer with cargo build --release)", binary.display());
    }
    let migrations = migrations(source)?;
    // Checked before our run, so that a taken port does not waste it.
    drop(TcpListener::bind(("0.0.0.0", PEER_PORT)).with_context(|| format!("the peer binds port {PEER_PORT}: taken"))?);
    let ticks = bench_rest::ticks_per_second()?;
    let stamp = chrono::Utc::now().timestamp_millis();

    let ours = measure_ours(args, target, ticks).await?;
    let database = ScratchDatabase::create(server, format!("bench_peer_{stamp}")).await?;
    let (theirs, log_lines) = measure_peer(args, &database, binary, &migrations, ticks).await?;
    drop(database);
    print(args, &ours, &theirs, log_lines);
    Ok(())
}

/// The peer's `migrations/<version>/up.sql`, in version order.
fn migrations(source: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let folder = source.join("migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("reading {} (--peer-src is the peer's checkout)", folder.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("up.sql")))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    if !files.iter().any(|path| path.to_string_lossy().contains("create_articles")) {
        bail!("{} holds no create_articles migration: not the peer's checkout?", folder.display());
    }
    Ok(files)
}

/// Our api on the run's scratch database, seeded as `--mode rest` seeds it.
async fn measure_ours(args: &Args, target: &Target, ticks: f64) -> anyhow::Result<BTreeMap<RowKind, Measured>> {
    let (services, pid) = start_api(args, target).await?;
    let (users, posts) = bench_rest::seed(target).await?;
    let tokens: Arc<Vec<String>> = Arc::new(users.iter().map(|u| token(u)).collect::<anyhow::Result<_>>()?);
    let (posts, api) = (Arc::new(posts), Arc::new(services.api.clone()));
    let bearer = |make: fn(&Client, &str, &str, u64) -> RequestBuilder| -> MakeRequest {
        let (api, tokens, posts) = (Arc::clone(&api), Arc::clone(&tokens), Arc::clone(&posts));
        Arc::new(move |http, n| {
            make(http, &api, &posts[pick(n, posts.len())], n).bearer_auth(&tokens[pick(n, tokens.len())])
        })
    };
    let rows = vec![
        Row {
            path: RowKind::Post,
            make: bearer(|http, api, _, n| {
                http.post(format!("{api}/api/v1/posts")).json(&json!({"content": format!("bench {n}")}))
            }),
            status: 201,
            shape: |body| body["id"].is_string() && body["content"].as_str().is_some_and(|c| c.starts_with("bench ")),
        },
        Row {
            path: RowKind::One,
            make: bearer(|http, api, post, _| http.get(format!("{api}/api/v1/posts/{post}"))),
            status: 200,
            shape: |body| body["id"].is_string() && body["author"]["username"].is_string(),
        },
        Row {
            path: RowKind::Feed,
            make: bearer(|http, api, _, _| http.get(format!("{api}/api/v1/timeline"))),
            status: 200,
            shape: |body| body["data"].as_array().is_some_and(|page| page.len() == 20),
        },
        Row {
            path: RowKind::Me,
            make: bearer(|http, api, _, _| http.get(format!("{api}/api/v1/users/me"))),
            status: 200,
            shape: |body| body["id"].is_string() && body["username"].is_string(),
        },
    ];
    let Target::Served { server, database_url, .. } = target else { bail!("--mode peer needs the served api") };
    let database = database_url.rsplit('/').next().context("no database in the scratch URL")?;
    let measured = measure(args, &rows, pid, ticks, (server, database), false).await?;
    drop(services);
    Ok(measured)
}

/// The peer on `database`: its schema, the seed, then its rows.
async fn measure_peer(
    args: &Args,
    database: &ScratchDatabase,
    binary: &Path,
    migrations: &[PathBuf],
    ticks: f64,
) -> anyhow::Result<(BTreeMap<RowKind, Measured>, usize)> {
    let url = database.url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    for file in migrations {
        let sql = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        client.batch_execute(&sql).await.with_context(|| format!("applying {}", file.display()))?;
    }
    let seed = Seed::network(1000, 20, 100)?;
    let slugs = write_peer_seed(&client, &seed).await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    drop(client);

    let peer = start_peer(binary, &url).await?;
    let now = chrono::Utc::now().timestamp();
    let tokens: Arc<Vec<String>> = Arc::new(
        seed.users
            .iter()
            .map(|user| {
                let claims = json!({"exp": now + 86_400, "iat": now, "user_id": user.id.to_string()});
                encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(PEER_SECRET.as_bytes()))
            })
            .collect::<Result<_, _>>()?,
    );
    login_once(&peer.base, &seed).await?;
    let (slugs, base) = (Arc::new(slugs), Arc::new(peer.base.clone()));
    let token = |make: fn(&Client, &str, &str, u64) -> RequestBuilder| -> MakeRequest {
        let (base, tokens, slugs) = (Arc::clone(&base), Arc::clone(&tokens), Arc::clone(&slugs));
        Arc::new(move |http, n| {
            make(http, &base, &slugs[pick(n, slugs.len())], n)
                .header("authorization", format!("Token {}", tokens[pick(n, tokens.len())]))
        })
    };
    let rows = vec![
        Row {
            path: RowKind::Post,
            make: token(|http, base, _, n| {
                let article =
                    json!({"title": format!("bench {n}"), "description": "bench", "body": format!("bench {n}")});
                http.post(format!("{base}/api/articles")).json(&json!({ "article": article }))
            }),
            status: 200,
            shape: |body| body["article"]["slug"].as_str().is_some_and(|slug| slug.starts_with("bench-")),
        },
        Row {
            path: RowKind::One,
            make: token(|http, base, slug, _| http.get(format!("{base}/api/articles/{slug}"))),
            status: 200,
            shape: |body| body["article"]["slug"].is_string() && body["article"]["author"]["username"].is_string(),
        },
        Row {
            path: RowKind::Feed,
            make: token(|http, base, _, _| http.get(format!("{base}/api/articles/feed"))),
            status: 200,
            shape: |body| {
                body["articles"].as_array().is_some_and(|page| page.len() == 20) && body["articlesCount"] == 2000
            },
        },
        Row {
            path: RowKind::Me,
            make: token(|http, base, _, _| http.get(format!("{base}/api/user"))),
            status: 200,
            shape: |body| body["user"]["username"].is_string() && body["user"]["token"].is_string(),
        },
    ];
    let pid = peer.child.id();
    let measured = measure(args, &rows, pid, ticks, (&database.server, &database.name), true).await?;
    let log_lines = peer.log_lines();
    drop(peer);
    Ok((measured, log_lines))
}

/// Writes the seed into the peer's tables: users (email `<username>@bench.invalid`,
/// the one bcrypt hash), follows, and the posts as articles (title and body the
/// post's content, slug the content in kebab case, as the peer slugs a title).
/// Answers the articles' slugs, in the seed's post order.
async fn write_peer_seed(client: &tokio_postgres::Client, seed: &Seed) -> anyhow::Result<Vec<String>> {
    // Ids as text and instants as microseconds since the epoch, cast in SQL
    // (as `bench_seed.rs` writes ours): the workspace's tokio-postgres has no
    // uuid or chrono features.
    let ids = seed.user_ids();
    let names: Vec<&str> = seed.users.iter().map(|u| u.username.as_str()).collect();
    let at = seed.at.timestamp_micros();
    client
        .execute(
            "INSERT INTO users (id, email, username, password, created_at, updated_at)
             SELECT id::uuid, username || '@bench.invalid', username, $3, instant, instant
             FROM unnest($1::text[], $2::text[]) AS u (id, username),
                  LATERAL (SELECT timestamp 'epoch' + $4::bigint * interval '1 microsecond') AS t (instant)",
            &[&ids, &names, &PEER_PASSWORD_HASH, &at],
        )
        .await?;
    let followers: Vec<&str> = seed.follows.iter().map(|f| ids[f.follower].as_str()).collect();
    let followees: Vec<&str> = seed.follows.iter().map(|f| ids[f.followee].as_str()).collect();
    client
        .execute(
            "INSERT INTO follows (follower_id, followee_id, created_at, updated_at)
             SELECT follower::uuid, followee::uuid, instant, instant
             FROM unnest($1::text[], $2::text[]) AS f (follower, followee),
                  LATERAL (SELECT timestamp 'epoch' + $3::bigint * interval '1 microsecond') AS t (instant)",
            &[&followers, &followees, &at],
        )
        .await?;
    let authors: Vec<&str> = seed.posts.iter().map(|p| ids[p.author].as_str()).collect();
    let titles: Vec<&str> = seed.posts.iter().map(|p| p.content.as_str()).collect();
    let slugs: Vec<String> = seed.posts.iter().map(|p| p.content.replace(' ', "-")).collect();
    let instants: Vec<i64> = seed.posts.iter().map(|p| p.created_at.timestamp_micros()).collect();
    client
        .execute(
            "INSERT INTO articles (id, author_id, slug, title, description, body, created_at, updated_at)
             SELECT id::uuid, author::uuid, slug, title, title, title, instant, instant
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS a (id, author, slug, title, at),
                  LATERAL (SELECT timestamp 'epoch' + at * interval '1 microsecond') AS t (instant)",
            &[&seed.post_ids(), &authors, &slugs, &titles, &instants],
        )
        .await?;
    Ok(slugs)
}

/// Starts the peer in a scratch folder, its stderr into `stderr.log` there,
/// and waits until it answers `GET /api/healthcheck`.
async fn start_peer(binary: &Path, database_url: &str) -> anyhow::Result<Peer> {
    let folder = std::env::temp_dir().join(format!(
        "bench_peer_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let log = std::fs::File::create(folder.join("stderr.log"))?;
    let child = Command::new(binary)
        .current_dir(&folder)
        .env("DATABASE_URL", database_url)
        .env("SECRET_KEY", PEER_SECRET)
        .env("FRONTEND_ORIGIN", "http://127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut peer = Peer { child, folder, base: format!("http://127.0.0.1:{PEER_PORT}") };
    for _ in 0..300 {
        if let Some(status) = peer.child.try_wait()? {
            bail!("the peer exited at start ({status}); its stderr: {}", peer.folder.join("stderr.log").display());
        }
        if let Ok(response) = reqwest::get(format!("{}/api/healthcheck", peer.base)).await
            && response.status().is_success()
        {
            return Ok(peer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the peer never answered {}/api/healthcheck", peer.base)
}

/// One login with the seed's password: proves the stored bcrypt hash valid
/// and the seeded user readable through the peer's own code.
async fn login_once(base: &str, seed: &Seed) -> anyhow::Result<()> {
    let user = seed.users.first().context("the seed has no user")?;
    let credentials = json!({"user": {"email": format!("{}@bench.invalid", user.username), "password": PEER_PASSWORD}});
    let response = Client::new().post(format!("{base}/api/users/login")).json(&credentials).send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() || body["user"]["username"] != user.username.as_str() {
        bail!("the peer refused the seed's login: {status} {body}");
    }
    Ok(())
}

/// A spread pick of `0..len` for request `n`, as `--mode rest` picks: the
/// multiplier is prime to 1,000 and 100,000, so consecutive requests go to
/// every author (and caller) in turn. Both sides pick with it: request `n`
/// of a row is by the same seeded user (and reads the same seeded post) on
/// either side.
fn pick(n: u64, len: usize) -> usize {
    (n as usize).wrapping_mul(2_654_435_761) % len.max(1)
}

/// Checks three requests of each selected row, then measures the rows in
/// [`MEASURED`] order with the CPU of process `pid` and of PostgreSQL.
async fn measure(
    args: &Args,
    rows: &[Row],
    pid: u32,
    ticks: f64,
    (server, database): (&str, &str),
    peer: bool,
) -> anyhow::Result<BTreeMap<RowKind, Measured>> {
    let http = Client::new();
    let (admin, connection) = tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let label = |path: RowKind| if peer { path.peer() } else { path.ours() };
    for row in rows.iter().filter(|row| row.path.selected(args)) {
        // Numbers the load never uses (it counts up from 0), so that the
        // checked posts take no title the load will send.
        for n in [u64::MAX - 2, u64::MAX - 1, u64::MAX] {
            let response = (row.make)(&http, n).send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status != row.status || !(row.shape)(&body) {
                bail!("{} answered {status} (expected {}): {text}", label(row.path), row.status);
            }
        }
    }
    let mut measured = BTreeMap::new();
    for path in MEASURED {
        let Some(row) = rows.iter().find(|row| row.path == path && path.selected(args)) else { continue };
        let counted = Counters::read(&admin, database).await?;
        let own_before = own_postgres(&admin, database, ticks).await?;
        let (server_before, pg_before) =
            (bench_rest::cpu_seconds(pid, ticks)?, bench_rest::postgres_cpu_seconds(ticks)?);
        let profiler =
            args.perf.as_deref().map(|folder| bench_rest::profile(folder, label(path), args.seconds)).transpose()?;
        let reads = bench_rest::load(args.connections, args.seconds, Arc::clone(&row.make)).await?;
        if let Some(mut profiler) = profiler {
            profiler.wait()?;
        }
        let (server_after, pg_after) = (bench_rest::cpu_seconds(pid, ticks)?, bench_rest::postgres_cpu_seconds(ticks)?);
        let own_after = own_postgres(&admin, database, ticks).await?;
        let own: f64 = own_after.iter().map(|(pid, after)| after - own_before.get(pid).copied().unwrap_or(0.0)).sum();
        if let Some(folder) = &args.perf {
            // Beside the profile, whose samples are this side's (`perf report --pid $(cat <row>.pids)`):
            // the server, then its PostgreSQL processes, also those opened during the row.
            let postgres: std::collections::BTreeSet<u32> =
                own_before.keys().chain(own_after.keys()).copied().collect();
            let pids: Vec<String> = std::iter::once(pid).chain(postgres).map(|p| p.to_string()).collect();
            std::fs::write(folder.join(format!("{}.pids", profile_name(label(path)))), pids.join(",") + "\n")?;
        }
        let per_request = |seconds: f64| 1e6 * seconds / reads.requests.max(1) as f64;
        let counters = Counters::read(&admin, database).await?.per_request(counted, reads.requests);
        measured.insert(
            path,
            Measured {
                counters,
                server_cpu_us: per_request(server_after - server_before),
                postgres_cpu_us: per_request(pg_after - pg_before),
                own_postgres_cpu_us: per_request(own),
                reads,
            },
        );
    }
    Ok(measured)
}

/// The CPU seconds so far of each PostgreSQL process that serves `database`:
/// its backends (and autovacuum workers), and the server's WAL writer,
/// checkpointer and background writer (shared with any other database, but
/// idle without writes). Other work on the same server is left out, which
/// the sum over every `postgres` process does not do.
async fn own_postgres(
    admin: &tokio_postgres::Client,
    database: &str,
    ticks: f64,
) -> anyhow::Result<BTreeMap<u32, f64>> {
    let rows = admin
        .query(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = $1 OR backend_type IN ('walwriter', 'checkpointer', 'background writer')",
            &[&database],
        )
        .await?;
    let mut cpu = BTreeMap::new();
    for row in rows {
        let pid = u32::try_from(row.try_get::<_, i32>(0)?)?;
        // A process that ended since the query has nothing more to count.
        if let Ok(seconds) = bench_rest::cpu_seconds(pid, ticks) {
            cpu.insert(pid, seconds);
        }
    }
    Ok(cpu)
}

/// The file name `bench_rest::profile` gives a row's profile, without `.data`.
fn profile_name(label: &str) -> String {
    let name: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    name.trim_matches('-').to_owned()
}

fn print(args: &Args, ours: &BTreeMap<RowKind, Measured>, theirs: &BTreeMap<RowKind, Measured>, log_lines: usize) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| row ({} connections, {} s each) | ours req/s | ours p50 / p99 | peer req/s | peer p50 / p99 | ours / peer | ours CPU per request: api + PostgreSQL (its own processes) | peer CPU per request: peer + PostgreSQL (its own processes) | failures (ours / peer) |",
        args.connections, args.seconds
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for (path, mine) in ours {
        let Some(peer) = theirs.get(path) else { continue };
        let failures = |side: &str, label: &str, reads: &Reads, notes: &mut Vec<String>| {
            if reads.failures == 0 {
                return "0".to_owned();
            }
            let statuses = reads.failed.iter().map(|(status, count)| format!("{status}: {count}")).collect::<Vec<_>>();
            notes.push(format!(
                "({side} {label}: {} failures by status, 0 = no answer: {})",
                reads.failures,
                statuses.join(", ")
            ));
            format!("**{}**", reads.failures)
        };
        let (my_failures, peer_failures) = (
            failures("ours", path.ours(), &mine.reads, &mut notes),
            failures("peer", path.peer(), &peer.reads, &mut notes),
        );
        let row = match path {
            RowKind::Post => "POST (1,000 authors)".to_owned(),
            _ => path.ours().to_owned(),
        };
        println!(
            "| {row} vs {} | {:.0} | {:.2} / {:.2} ms | {:.0} | {:.2} / {:.2} ms | {:.2}x | {:.0} + {:.0} ({:.0}) µs | {:.0} + {:.0} ({:.0}) µs | {my_failures} / {peer_failures}{} |",
            path.peer(),
            mine.reads.per_second,
            ms(mine.reads.p50),
            ms(mine.reads.p99),
            peer.reads.per_second,
            ms(peer.reads.p50),
            ms(peer.reads.p99),
            mine.reads.per_second / peer.reads.per_second.max(1e-9),
            mine.server_cpu_us,
            mine.postgres_cpu_us,
            mine.own_postgres_cpu_us,
            peer.server_cpu_us,
            peer.postgres_cpu_us,
            peer.own_postgres_cpu_us,
            if mine.reads.failures + peer.reads.failures > 0 { " (row has failures)" } else { "" },
        );
    }
    for note in notes {
        println!("{note}");
    }
    println!();
    println!(
        "| row | ours per request: transactions / WAL records / WAL syncs | peer per request: transactions / WAL records / WAL syncs |"
    );
    println!("|---|---|---|");
    for (path, mine) in ours {
        let Some(peer) = theirs.get(path) else { continue };
        let counted = |c: Counters| format!("{:.2} / {:.2} / {:.3}", c.transactions, c.wal_records, c.wal_syncs);
        println!("| {} vs {} | {} | {} |", path.ours(), path.peer(), counted(mine.counters), counted(peer.counters));
    }
    println!(
        "(transactions: of that side's database, each statement outside a transaction counting as one; WAL: server-wide)"
    );
    println!(
        "(PostgreSQL CPU: every postgres process of the machine; in parentheses only that side's backends plus the WAL writer, checkpointer and background writer)"
    );
    println!("(the peer wrote {log_lines} lines on stderr during its run)");
}
