//! `bench --mode rest`: the REST hot paths beside PostgreSQL's own ceiling,
//! measured in one run on the same server.
//!
//! Ceilings: `pgbench -S -M prepared` (read-only point queries) for the reads
//! and the default TPC-B script for the write, on a scratch pgbench database of
//! the same PostgreSQL server. Rows: `GET /api/v1/posts/{id}`,
//! `GET /api/v1/timeline`, `GET /api/v1/users/me` and `POST /api/v1/posts` by
//! many authors (no single author's lock serializes them), each from
//! `--connections` connections for `--seconds`, with the CPU time the api and
//! PostgreSQL spent per request.
//!
//! `--embedded`: the same rows against `social` on SQLite (its CPU is the
//! api's and the database's together); the ceilings are still pgbench's on
//! the local PostgreSQL, as a reference, when it answers (else no ratio).

use anyhow::{Context, bail};
use reqwest::{Client, RequestBuilder};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench_seed::Seed;
use crate::bench_wrk::{LoadClient, Workload, wrk};
use crate::{Args, Reads, Target, database_server, percentile, proc_status_kib, start_api, token};

/// What one request of a row is, given a client and the request's number.
pub type MakeRequest = Arc<dyn Fn(&Client, u64) -> RequestBuilder + Send + Sync>;

/// `connections` loops sending `make`'s requests back to back for `seconds`.
pub async fn load(connections: usize, seconds: u64, make: MakeRequest) -> anyhow::Result<Reads> {
    let http = Client::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|connection| {
            let (http, make) = (http.clone(), Arc::clone(&make));
            tokio::spawn(async move {
                let (mut latencies, mut failed) = (Vec::new(), BTreeMap::<u16, usize>::new());
                let mut n = connection as u64;
                while Instant::now() < deadline {
                    let at = Instant::now();
                    match make(&http, n).send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            latencies.push(at.elapsed());
                        }
                        Ok(response) => *failed.entry(response.status().as_u16()).or_default() += 1,
                        Err(_) => *failed.entry(0).or_default() += 1,
                    }
                    n += connections as u64;
                }
                (latencies, failed)
            })
        })
        .collect();
    let (mut latencies, mut failed) = (Vec::new(), BTreeMap::new());
    for task in tasks {
        let (mine, statuses) = task.await?;
        latencies.extend(mine);
        for (status, count) in statuses {
            *failed.entry(status).or_default() += count;
        }
    }
    let failures = failed.values().sum();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(Reads {
        requests: latencies.len(),
        failures,
        failed,
        per_second: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
    })
}

/// Starts `perf record` on every CPU for `seconds`, into `<folder>/<label as a file name>.data`.
pub fn profile(folder: &std::path::Path, label: &str, seconds: u64) -> anyhow::Result<std::process::Child> {
    std::fs::create_dir_all(folder)?;
    let name: String = label
        .split(',')
        .next()
        .unwrap_or(label)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let output = folder.join(format!("{}.data", name.trim_matches('-')));
    Command::new("perf")
        .args(["record", "-a", "-g", "-e", "cpu-clock", "-F", "997", "-o"])
        .arg(&output)
        .args(["--", "sleep", &seconds.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting perf (Debian's linux-perf)")
}

/// CPU seconds (user + system) spent so far by `pid`.
pub fn cpu_seconds(pid: u32, ticks_per_second: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let after = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let (user, system): (f64, f64) = (fields[11].parse()?, fields[12].parse()?);
    Ok((user + system) / ticks_per_second)
}

/// CPU seconds spent so far by every process named `postgres`.
pub fn postgres_cpu_seconds(ticks_per_second: f64) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(name) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else { continue };
        if name.trim() == "postgres" {
            total += cpu_seconds(pid, ticks_per_second).unwrap_or(0.0);
        }
    }
    Ok(total)
}

pub fn ticks_per_second() -> anyhow::Result<f64> {
    let output = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// Runs `pgbench` with `arguments` on `database` and answers its TPS.
fn pgbench(server: &str, database: &str, arguments: &[&str]) -> anyhow::Result<f64> {
    let output = Command::new("pgbench").args(arguments).arg(format!("{server}/{database}")).output()?;
    if !output.status.success() {
        bail!("pgbench {arguments:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8(output.stdout)?;
    let line = text.lines().find(|l| l.starts_with("tps = ")).context("no tps line in pgbench's output")?;
    Ok(line.trim_start_matches("tps = ").split_whitespace().next().context("empty tps")?.parse()?)
}

/// The PostgreSQL ceilings: `pgbench -S -M prepared` and TPC-B, `seconds` each.
fn ceilings(server: &str, seconds: u64) -> anyhow::Result<(f64, f64)> {
    let database = format!("bench_pgbench_{}", chrono::Utc::now().timestamp_millis());
    let url = format!("{server}/postgres");
    let admin = |sql: String| Command::new("psql").args(["-qX", &url, "-c", &sql]).status();
    if !admin(format!("CREATE DATABASE {database}"))?.success() {
        bail!("could not create {database} (psql and pgbench come with PostgreSQL's client packages)");
    }
    let duration = seconds.to_string();
    let measured = (|| {
        pgbench(server, &database, &["-i", "-s", "10", "-q"]).ok();
        let select_only =
            pgbench(server, &database, &["-S", "-M", "prepared", "-c", "16", "-j", "2", "-T", &duration])?;
        let tpc_b = pgbench(server, &database, &["-c", "16", "-j", "2", "-T", &duration])?;
        anyhow::Ok((select_only, tpc_b))
    })();
    admin(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
    measured
}

/// 1,000 users each following the next 20, 100 posts each, written straight
/// to the database (and, on PostgreSQL, vacuumed and analyzed as autovacuum
/// would soon do: it vacuums insert-only tables too, which sets the visibility
/// map that index-only scans rely on).
/// Answers the user ids and post ids.
pub async fn seed(target: &Target) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let seed = Seed::network(1000, 20, 100)?;
    target.write(&seed).await?;
    if let Target::Served { database_url, .. } = target {
        let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute("VACUUM ANALYZE").await?;
    }
    Ok((seed.user_ids(), seed.post_ids()))
}

struct Row {
    label: &'static str,
    reads: Reads,
    ceiling: Option<f64>,
    api_cpu_us: f64,
    /// `None` when embedded (no PostgreSQL behind the api).
    postgres_cpu_us: Option<f64>,
    /// The api's resident memory at the end of the row, and its peak so far (KiB).
    rss_kib: (u64, u64),
}

pub async fn rest(args: &Args, target: &Target) -> anyhow::Result<()> {
    let (services, pid) = start_api(args, target).await?;
    let (users, posts) = seed(target).await?;
    let tokens: Arc<Vec<String>> = Arc::new(users.iter().map(|u| token(u)).collect::<anyhow::Result<_>>()?);
    let posts = Arc::new(posts);
    let ticks = ticks_per_second()?;
    let (select_only, tpc_b) = match target {
        Target::Served { server, .. } => {
            let (select_only, tpc_b) = ceilings(server, args.seconds)?;
            (Some(select_only), Some(tpc_b))
        }
        Target::Embedded { .. } => match ceilings(&database_server(), args.seconds) {
            Ok((select_only, tpc_b)) => {
                println!(
                    "(embedded: `social` on SQLite; the ceilings are pgbench on the local PostgreSQL, \
                     measured in this run as a reference: the embedded api does not use PostgreSQL)"
                );
                (Some(select_only), Some(tpc_b))
            }
            Err(e) => {
                println!(
                    "(embedded: `social` on SQLite; no PostgreSQL to measure a reference ceiling on ({e:#}): no ratios)"
                );
                (None, None)
            }
        },
    };
    let embedded = target.is_embedded();

    let targets = |paths: Vec<String>| Arc::new(paths);
    let one = |path: &str| targets(vec![path.to_owned()]);
    let workload =
        |method, targets, body_prefix| Arc::new(Workload { method, targets, tokens: Arc::clone(&tokens), body_prefix });
    let by_id = workload("GET", targets(posts.iter().map(|post| format!("/api/v1/posts/{post}")).collect()), None);
    let timeline = workload("GET", one("/api/v1/timeline"), None);
    let me = workload("GET", one("/api/v1/users/me"), None);
    let write = workload("POST", one("/api/v1/posts"), Some("bench "));
    let mut rows = Vec::new();
    for (label, make, ceiling) in [
        ("GET /api/v1/posts/{id}", by_id, select_only),
        ("GET /api/v1/timeline", timeline, select_only),
        ("GET /api/v1/users/me", me, select_only),
        ("POST /api/v1/posts, 1,000 authors", write, tpc_b),
    ] {
        if !args.paths.is_empty() && !args.paths.iter().any(|wanted| label.contains(wanted.as_str())) {
            continue;
        }
        // Embedded, PostgreSQL serves nothing: its CPU is not counted.
        let postgres = || if embedded { Ok(0.0) } else { postgres_cpu_seconds(ticks) };
        let (api_before, pg_before) = (cpu_seconds(pid, ticks)?, postgres()?);
        let profiler = args.perf.as_deref().map(|folder| profile(folder, label, args.seconds)).transpose()?;
        make.check(&services.api).await?;
        let reads = match args.client {
            LoadClient::Reqwest => {
                load(args.connections, args.seconds, Arc::clone(&make).maker(services.api.clone())).await?
            }
            LoadClient::Wrk => wrk(&make, &services.api, args.connections, args.seconds)?,
        };
        if let Some(mut profiler) = profiler {
            profiler.wait()?;
        }
        let (api_after, pg_after) = (cpu_seconds(pid, ticks)?, postgres()?);
        let per_request = |seconds: f64| 1e6 * seconds / reads.requests.max(1) as f64;
        rows.push(Row {
            label,
            ceiling,
            api_cpu_us: per_request(api_after - api_before),
            postgres_cpu_us: (!embedded).then(|| per_request(pg_after - pg_before)),
            rss_kib: (proc_status_kib(pid, "VmRSS:")?, proc_status_kib(pid, "VmHWM:")?),
            reads,
        });
    }
    let api = if embedded { "social (api + SQLite) CPU per request" } else { "api CPU per request" };
    let same_run = if embedded { "reference ceiling (local PostgreSQL), same run" } else { "ceiling, same run" };
    println!(
        "| path ({} connections, {} s) | req/s | p50 | p99 | {same_run} | ratio | {api} | PostgreSQL CPU per request | api RSS (peak) | failures |",
        args.connections, args.seconds
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for row in &rows {
        let name = if row.label.starts_with("POST") { "pgbench TPC-B" } else { "pgbench -S" };
        let (ceiling, ratio) = match row.ceiling {
            Some(tps) => {
                (format!("{name} {tps:.0} TPS"), format!("{:.0} %", 100.0 * row.reads.per_second / tps.max(1e-9)))
            }
            None => ("—".to_owned(), "—".to_owned()),
        };
        let postgres_cpu = row.postgres_cpu_us.map_or_else(|| "— (none used)".to_owned(), |us| format!("{us:.0} µs"));
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {ceiling} | {ratio} | {:.0} µs | {postgres_cpu} | {:.1} MiB ({:.1}) | {} |",
            row.label,
            row.reads.per_second,
            ms(row.reads.p50),
            ms(row.reads.p99),
            row.api_cpu_us,
            row.rss_kib.0 as f64 / 1024.0,
            row.rss_kib.1 as f64 / 1024.0,
            row.reads.failures,
        );
    }
    for row in &rows {
        if row.reads.failures > 0 {
            let statuses =
                row.reads.failed.iter().map(|(status, count)| format!("{status}: {count}")).collect::<Vec<_>>();
            println!(
                "({} failures by status, 0 = no answer, 1 = a non-2xx status wrk does not name: {})",
                row.label,
                statuses.join(", ")
            );
        }
    }
    drop(services);
    Ok(())
}
