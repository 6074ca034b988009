//! The rows of `--mode rest` described once ([`Workload`]) and sent by either
//! load client: `wrk` (the default: a C load generator, so the client takes
//! as little of the shared cores as pgbench's own client does) or the
//! harness's own reqwest loop (`--client reqwest`, nothing to install).
//!
//! For wrk the workload becomes a Lua script (the tokens and targets as
//! tables; each request picks a caller and a target at random, as the reqwest
//! loop does), and wrk's summary is read back into the same [`Reads`].

use anyhow::{Context, bail};
use reqwest::{Client, RequestBuilder};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::Reads;
use crate::bench_rest::MakeRequest;

/// Which program sends the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadClient {
    /// Debian's `wrk` (`apt-get install wrk`).
    Wrk,
    /// The harness's own reqwest loop.
    Reqwest,
}

/// One row's requests: `method` on one of `targets` (paths), as one of
/// `tokens`' users, with a JSON body `{"content": "<body_prefix><n>"}` when
/// `body_prefix` is set.
pub struct Workload {
    pub method: &'static str,
    pub targets: Arc<Vec<String>>,
    pub tokens: Arc<Vec<String>>,
    pub body_prefix: Option<&'static str>,
}

impl Workload {
    /// The `n`th request, for the reqwest loop.
    fn request(&self, base: &str, http: &Client, n: u64) -> RequestBuilder {
        let pick = |len: usize| (n as usize).wrapping_mul(2_654_435_761) % len.max(1);
        let url = format!("{base}{}", self.targets[pick(self.targets.len())]);
        let token = &self.tokens[pick(self.tokens.len())];
        let request = match self.method {
            "POST" => http.post(url),
            _ => http.get(url),
        };
        let request = request.bearer_auth(token);
        match self.body_prefix {
            Some(prefix) => request.json(&serde_json::json!({ "content": format!("{prefix}{n}") })),
            None => request,
        }
    }

    pub fn maker(self: Arc<Self>, base: String) -> MakeRequest {
        Arc::new(move |http, n| self.request(&base, http, n))
    }

    /// Sends one request and fails unless it succeeds, so that no row
    /// measures how fast the api refuses.
    pub async fn check(&self, base: &str) -> anyhow::Result<()> {
        let response = self.request(base, &Client::new(), 0).send().await?;
        let status = response.status();
        if !status.is_success() {
            bail!("{} {}: {status} {}", self.method, self.targets[0], response.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// The wrk script sending this workload.
    fn lua(&self) -> String {
        let table = |items: &[String]| {
            let mut text = String::from("{\n");
            for item in items {
                // Tokens and paths are ASCII without quotes or backslashes (JWTs, UUIDs).
                let _ = writeln!(text, "  \"{item}\",");
            }
            text.push('}');
            text
        };
        let body = match self.body_prefix {
            Some(prefix) => format!("'{{\"content\":\"{prefix}' .. n .. '\"}}'"),
            None => "nil".to_owned(),
        };
        format!(
            r#"-- written by `bench --mode rest`: one row's requests
local tokens = {tokens}
local targets = {targets}
local counter = 0

function setup(thread)
  thread:set("thread_number", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(thread_number * 7919 + 17)
  n = thread_number * 1000000000
end

function request()
  n = n + 1
  local headers = {{ ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)] }}
  local body = {body}
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format("{method}", targets[math.random(#targets)], headers, body)
end
"#,
            tokens = table(&self.tokens),
            targets = table(&self.targets),
            method = self.method,
        )
    }
}

/// Runs `wrk` with `connections` connections on two threads for `seconds`
/// (its script in the temporary folder while it runs).
pub fn wrk(workload: &Workload, base: &str, connections: usize, seconds: u64) -> anyhow::Result<Reads> {
    let script = std::env::temp_dir().join(format!("bench-rest-{}.lua", std::process::id()));
    std::fs::write(&script, workload.lua())?;
    let output = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string(), "-d", &format!("{seconds}s"), "--latency", "-s"])
        .arg(&script)
        .arg(base)
        .output();
    let _ = std::fs::remove_file(&script);
    let output =
        output.context("running wrk (Debian's `wrk` package: apt-get install wrk; or pass --client reqwest)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    }
    parse(&text).with_context(|| format!("reading wrk's summary:\n{text}"))
}

/// Reads wrk's summary: requests, duration, the latency distribution and the
/// failures (non-2xx answers and socket errors).
fn parse(text: &str) -> anyhow::Result<Reads> {
    let (mut requests, mut elapsed, mut p50, mut p99) = (None, None, None, None);
    let mut failed = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [count, "requests", "in", time, ..] => {
                requests = Some(count.parse::<usize>()?);
                elapsed = Some(duration(time.trim_end_matches(','))?);
            }
            ["50%", value] => p50 = Some(duration(value)?),
            ["99%", value] => p99 = Some(duration(value)?),
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                failed.insert(NOT_2XX, count.parse()?);
            }
            ["Socket", "errors:", rest @ ..] => {
                let errors: usize = rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<usize>().ok()).sum();
                if errors > 0 {
                    failed.insert(0, errors);
                }
            }
            _ => {}
        }
    }
    let (requests, elapsed) = (requests.context("no request count")?, elapsed.context("no duration")?);
    let failures: usize = failed.values().sum();
    let succeeded = requests.saturating_sub(*failed.get(&NOT_2XX).unwrap_or(&0));
    Ok(Reads {
        requests: succeeded,
        failures,
        failed,
        per_second: succeeded as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: p50.context("no 50% line (wrk without --latency?)")?,
        p99: p99.context("no 99% line")?,
    })
}

/// The key under which wrk's non-2xx answers are counted (wrk does not say
/// which statuses they were).
pub const NOT_2XX: u16 = 1;

/// A wrk duration: `635.91us`, `4.79ms`, `10.00s`, `1.02m`.
fn duration(text: &str) -> anyhow::Result<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).context("no unit")?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => bail!("unknown unit {unit}"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = "Running 10s test @ http://127.0.0.1:4000
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.91ms    1.20ms  30.01ms   80.00%
    Req/Sec     6.52k   400.00     7.10k    70.00%
  Latency Distribution
     50%  635.91us
     75%    5.12ms
     90%    6.01ms
     99%    8.15ms
  130000 requests in 10.00s, 60.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 100
Requests/sec:  13000.00
Transfer/sec:      6.00MB
";

    #[test]
    fn the_summary_gives_successes_per_second_percentiles_and_failures() {
        let reads = parse(SUMMARY).unwrap();
        assert_eq!(reads.requests, 129_900);
        assert!((reads.per_second - 12_990.0).abs() < 1e-6);
        assert_eq!(reads.p50, Duration::from_nanos(635_910));
        assert_eq!(reads.p99, Duration::from_micros(8_150));
        assert_eq!(reads.failures, 103);
        assert_eq!(reads.failed.get(&NOT_2XX), Some(&100));
        assert_eq!(reads.failed.get(&0), Some(&3));
    }

    #[test]
    fn a_summary_without_the_distribution_is_refused() {
        let text = SUMMARY.lines().filter(|l| !l.contains('%') || l.contains("Stdev")).collect::<Vec<_>>().join("\n");
        assert!(text.contains("requests in"));
        assert!(parse(&text).is_err());
    }

    #[test]
    fn the_script_carries_every_token_and_target_and_the_body_for_writes() {
        let workload = Workload {
            method: "POST",
            targets: Arc::new(vec!["/api/v1/posts".into()]),
            tokens: Arc::new(vec!["a.b.c".into(), "d.e.f".into()]),
            body_prefix: Some("bench "),
        };
        let lua = workload.lua();
        assert!(lua.contains("\"a.b.c\"") && lua.contains("\"d.e.f\"") && lua.contains("\"/api/v1/posts\""));
        assert!(lua.contains(r#"'{"content":"bench ' .. n .. '"}'"#));
        assert!(lua.contains(r#"wrk.format("POST""#));
    }
}
