//! The binaries as an operator starts them: with a published key or none,
//! `social` with no configuration at all (the embedded mode), a signal while
//! starting.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where it breaks")]

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

#[test]
fn every_binary_refuses_the_published_placeholder_key() {
    let scratch = Scratch::new();
    for binary in [env!("CARGO_BIN_EXE_api"), env!("CARGO_BIN_EXE_notifier"), env!("CARGO_BIN_EXE_social")] {
        let (mut command, _, _) = scratch.command(binary);
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
    let scratch = Scratch::new();
    for binary in [env!("CARGO_BIN_EXE_api"), env!("CARGO_BIN_EXE_notifier")] {
        let (command, _, _) = scratch.command(binary);
        let output = run_briefly(command);
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET_KEY"));
    }
}

#[tokio::test]
async fn social_without_a_key_generates_one_privately_and_keeps_it_across_restarts() {
    let mut scratch = Scratch::new();
    let home = std::env::temp_dir().join(format!("social-home-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&home).unwrap();
    let start = |scratch: &mut Scratch| {
        let (mut command, api, _) = scratch.command(env!("CARGO_BIN_EXE_social"));
        command.current_dir(&home);
        scratch.spawn(command);
        api
    };

    let port = start(&mut scratch);
    assert!(ready(port, scratch.children.last_mut().unwrap()).await, "social came up without a key");
    let key_file = home.join("data/jwt-secret");
    assert_key_is_private(&key_file);
    let token = login_token(port).await;
    assert_eq!(me_status(port, &token).await, reqwest::StatusCode::OK);

    let mut first = scratch.children.pop().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let key = std::fs::read_to_string(&key_file).unwrap();
    let port = start(&mut scratch);
    assert!(ready(port, scratch.children.last_mut().unwrap()).await, "social came back");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "the key is kept");
    assert_eq!(me_status(port, &token).await, reqwest::StatusCode::OK, "tokens survive a restart");
    drop(scratch);
    std::fs::remove_dir_all(home).unwrap();
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
    let scratch = Scratch::new();
    let (mut command, _, _) = scratch.command(env!("CARGO_BIN_EXE_api"));
    // Nothing answers on port 1: start-up waits for PostgreSQL with backoff.
    command.env("JWT_SECRET_KEY", KEY).env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none");
    let child = command.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    assert!(exit_output(child).status.success());
}
