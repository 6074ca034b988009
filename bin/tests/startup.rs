//! The binaries as an operator starts them: with a published key or none,
//! `social` with no configuration at all (the embedded mode), a signal while
//! starting.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where it breaks")]

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::*;

#[test]
fn every_binary_refuses_the_published_placeholder_key() {
    let home = Home::new();
    for binary in [env!("CARGO_BIN_EXE_api"), env!("CARGO_BIN_EXE_notifier"), env!("CARGO_BIN_EXE_social")] {
        let (mut command, _, _) = home.command(binary);
        command.env("JWT_SECRET_KEY", "change-me-to-at-least-32-random-bytes-please");
        let output = run_briefly(command);
        assert!(!output.status.success(), "{binary} started with the placeholder");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("JWT_SECRET_KEY"), "{stderr}");
    }
}

#[test]
fn the_served_binaries_refuse_to_start_without_a_key() {
    let home = Home::new();
    for binary in [env!("CARGO_BIN_EXE_api"), env!("CARGO_BIN_EXE_notifier")] {
        let (command, _, _) = home.command(binary);
        let output = run_briefly(command);
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET_KEY"));
    }
}

#[test]
fn the_served_binaries_refuse_the_embedded_mode_in_one_line() {
    let home = Home::new();
    for binary in [env!("CARGO_BIN_EXE_api"), env!("CARGO_BIN_EXE_notifier")] {
        let (mut command, _, _) = home.command(binary);
        command.env("JWT_SECRET_KEY", KEY).env("DATABASE_URL", "sqlite://./data/social.db");
        let output = run_briefly(command);
        assert!(!output.status.success(), "{binary} started embedded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("DATABASE_URL") && stderr.contains("social"), "{stderr}");
        assert!(!home.dir.join("data").exists(), "{binary} created no database");
    }
}

/// `social` as a newcomer runs it: an empty folder, no `.env`, no variable.
#[tokio::test]
async fn social_with_no_configuration_runs_embedded_without_any_server_and_keeps_its_data() {
    let mut home = Home::new();
    let log = home.dir.join("social.log");
    let start = |home: &mut Home| {
        let (mut command, api, _) = home.command(env!("CARGO_BIN_EXE_social"));
        command.stdout(std::fs::File::create(&log).unwrap());
        home.spawn(command);
        api
    };

    let port = start(&mut home);
    assert!(ready(port, home.children.last_mut().unwrap()).await, "social came up with no configuration");
    let pid = home.children.last().unwrap().id();
    assert!(home.dir.join("data/social.db").is_file(), "the database is created under ./data");
    assert_key_is_private(&home.dir.join("data/jwt-secret"));
    let token = login_token(port).await;
    assert_eq!(me_status(port, &token).await, reqwest::StatusCode::OK);
    let servers = remote_ports(pid);
    assert!(!servers.contains(&5432) && !servers.contains(&5672), "connections to {servers:?}");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.lines().any(|line| line.contains("embedded mode") && line.contains("social.db")),
        "one line says embedded mode and where the data lives: {logs}"
    );

    let mut first = home.children.pop().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let key = std::fs::read_to_string(home.dir.join("data/jwt-secret")).unwrap();
    let port = start(&mut home);
    assert!(ready(port, home.children.last_mut().unwrap()).await, "social came back");
    assert_eq!(std::fs::read_to_string(home.dir.join("data/jwt-secret")).unwrap(), key, "the key is kept");
    assert_eq!(me_status(port, &token).await, reqwest::StatusCode::OK, "the user and the key survive a restart");
}

#[tokio::test]
async fn social_embedded_exits_cleanly_on_sigterm() {
    let home = Home::new();
    let (mut command, api, _) = home.command(env!("CARGO_BIN_EXE_social"));
    command.stderr(Stdio::piped()).stdout(Stdio::piped());
    let mut child = command.spawn().unwrap();
    assert!(ready(api, &mut child).await, "social came up");
    signal(&child, "TERM");
    let output = exit_output(child);
    let logs = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "exit status {:?}: {logs}", output.status);
    assert!(!logs.contains("panicked"), "{logs}");
}

fn assert_key_is_private(path: &Path) {
    let key = std::fs::read_to_string(path).unwrap();
    assert_eq!(key.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn a_signal_during_start_up_is_not_lost() {
    let home = Home::new();
    let (mut command, _, _) = home.command(env!("CARGO_BIN_EXE_api"));
    // Nothing answers on port 1: start-up waits for PostgreSQL with backoff.
    command.env("JWT_SECRET_KEY", KEY).env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none");
    let child = command.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    assert!(exit_output(child).status.success());
}
