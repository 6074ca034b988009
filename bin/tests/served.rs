//! The served binaries as an operator starts them, on the real PostgreSQL and
//! RabbitMQ: several at once on a fresh database, a clean exit on a signal,
//! the relay handed over when its holder is killed. Compiled when
//! `TEST_DATABASE_URL` and `TEST_AMQP_URL` are set (`.ci/run` sets them).

#![cfg_attr(served_tests, expect(clippy::unwrap_used, reason = "a test fails loudly where it breaks"))]

#[cfg(served_tests)]
mod support;

#[cfg(served_tests)]
mod suite {
    use std::process::Stdio;
    use std::time::Duration;

    use super::support::*;

    #[tokio::test]
    async fn instances_started_together_on_a_fresh_database_all_come_up() {
        let mut scratch = Scratch::new();
        let binaries = [env!("CARGO_BIN_EXE_api"), env!("CARGO_BIN_EXE_api"), env!("CARGO_BIN_EXE_notifier")];
        let mut ports = Vec::new();
        for binary in binaries {
            let (mut command, api, ws) = scratch.command(binary);
            command.env("JWT_SECRET_KEY", KEY);
            ports.push(if binary.ends_with("notifier") { ws } else { api });
            scratch.spawn(command);
        }
        for (index, port) in ports.into_iter().enumerate() {
            assert!(ready(port, &mut scratch.children[index]).await, "instance {index} ({}) came up", binaries[index]);
        }
    }

    #[tokio::test]
    async fn a_terminated_service_closes_its_connections_and_exits_cleanly() {
        let scratch = Scratch::new();
        for (binary, signal_name) in [(env!("CARGO_BIN_EXE_api"), "TERM"), (env!("CARGO_BIN_EXE_notifier"), "INT")] {
            let (mut command, api, ws) = scratch.command(binary);
            command.env("JWT_SECRET_KEY", KEY).env("RUST_LOG", "info").stderr(Stdio::piped()).stdout(Stdio::piped());
            let mut child = command.spawn().unwrap();
            let port = if binary.ends_with("notifier") { ws } else { api };
            assert!(ready(port, &mut child).await, "{binary} came up");
            signal(&child, signal_name);
            let output = exit_output(child);
            let logs =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            assert!(output.status.success(), "{binary} exit status {:?}: {logs}", output.status);
            assert!(!logs.contains("panicked"), "{binary} panicked on the way out: {logs}");
        }
    }

    /// Whether some session holds the relay's advisory lock on `database`.
    async fn relay_lock_held(database: &str) -> bool {
        let (client, connection) =
            tokio_postgres::connect(&format!("{SERVER}/{database}"), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        // The relay's key 0x00534f434941_4c31, as pg_locks shows a bigint key: high and low halves.
        let held: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 5459779 AND objid = 1229016113 AND granted",
            &[],
        )
        .await
        .unwrap()
        .get(0);
        held > 0
    }

    /// A queue of the test's own bound to every event of `exchange`.
    async fn tap(exchange: &str) -> (lapin::Connection, lapin::Consumer) {
        use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let url = std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare(exchange.into(), lapin::ExchangeKind::Topic, durable, FieldTable::default())
            .await
            .unwrap();
        let private = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
        let queue = channel.queue_declare("".into(), private, FieldTable::default()).await.unwrap();
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                "post.created".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let options = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
        let consumer =
            channel.basic_consume(queue.name().clone(), "".into(), options, FieldTable::default()).await.unwrap();
        (connection, consumer)
    }

    #[tokio::test]
    async fn killing_the_instance_that_publishes_hands_the_outbox_to_another_without_loss_or_reordering() {
        use futures::StreamExt;
        let mut scratch = Scratch::new();
        let (mut first, first_port, _) = scratch.command(env!("CARGO_BIN_EXE_api"));
        first.env("JWT_SECRET_KEY", KEY).env("POST_DAILY_LIMIT", "0");
        scratch.spawn(first);
        assert!(ready(first_port, &mut scratch.children[0]).await, "the first api came up");
        for _ in 0..100 {
            if relay_lock_held(&scratch.database).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(relay_lock_held(&scratch.database).await, "the first api publishes");
        let (mut second, port, _) = scratch.command(env!("CARGO_BIN_EXE_api"));
        second.env("JWT_SECRET_KEY", KEY).env("POST_DAILY_LIMIT", "0");
        scratch.spawn(second);
        assert!(ready(port, &mut scratch.children[1]).await, "the second api came up");
        let (_connection, mut events) = tap(&scratch.exchange()).await;

        let http = reqwest::Client::new();
        let mut authors = Vec::new();
        for name in ["ann", "bob", "cat"] {
            let credentials = serde_json::json!({"username": name, "password": "correct horse"});
            let base = format!("http://127.0.0.1:{port}/api/v1/auth");
            http.post(format!("{base}/register")).json(&credentials).send().await.unwrap();
            let tokens: serde_json::Value =
                http.post(format!("{base}/login")).json(&credentials).send().await.unwrap().json().await.unwrap();
            authors.push(tokens["access_token"].as_str().unwrap().to_owned());
        }
        let mut posted: Vec<(usize, String)> = Vec::new();
        let mut killed_at = None;
        for n in 0..45 {
            if n == 15 {
                let mut publisher = scratch.children.remove(0);
                publisher.kill().unwrap();
                publisher.wait().unwrap();
                killed_at = Some(std::time::Instant::now());
            }
            let author = n % authors.len();
            let post: serde_json::Value = http
                .post(format!("http://127.0.0.1:{port}/api/v1/posts"))
                .bearer_auth(&authors[author])
                .json(&serde_json::json!({"content": format!("post {n}")}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            posted.push((author, post["id"].as_str().unwrap().to_owned()));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut seen: Vec<String> = Vec::new();
        let mut first_after_kill = None;
        while seen.len() < posted.len() {
            let delivery = tokio::time::timeout(Duration::from_secs(15), events.next())
                .await
                .expect("every post's event in time")
                .unwrap()
                .unwrap();
            let event: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap();
            let id = event["id"].as_str().unwrap().to_owned();
            if posted[15..].iter().any(|(_, p)| *p == id) && first_after_kill.is_none() {
                first_after_kill = killed_at.map(|at| at.elapsed());
            }
            if !seen.contains(&id) {
                seen.push(id); // a row published but not yet marked by the killed instance comes again
            }
        }
        let taken_over = first_after_kill.unwrap();
        eprintln!("the second api published {} ms after the first was killed", taken_over.as_millis());
        assert!(taken_over < Duration::from_secs(3), "took over after {taken_over:?}");
        for author in 0..authors.len() {
            let sent: Vec<&String> = posted.iter().filter(|(a, _)| *a == author).map(|(_, id)| id).collect();
            let received: Vec<&String> = seen.iter().filter(|id| sent.contains(id)).collect();
            assert_eq!(received, sent, "author {author}'s posts in order");
        }
    }
}

#[cfg(not(served_tests))]
#[test]
fn served_family_needs_test_database_url_and_test_amqp_url() {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must set TEST_DATABASE_URL and TEST_AMQP_URL: the served family cannot be skipped"
    );
    eprintln!("served process tests not run: TEST_DATABASE_URL and TEST_AMQP_URL are unset");
}
