//! Compiles the served process tests (`tests/served.rs`) only when the servers they
//! needs are named: `TEST_DATABASE_URL` and `TEST_AMQP_URL`. Without them
//! `cargo test` runs on a machine with nothing but Rust installed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(served_tests)");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=TEST_AMQP_URL");
    let named = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if named("TEST_DATABASE_URL") && named("TEST_AMQP_URL") {
        println!("cargo::rustc-cfg=served_tests");
    }
}
