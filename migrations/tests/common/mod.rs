//! Helpers shared by the integration tests: service addresses come from the environment that
//! `deploy/dev.sh` writes; a missing variable fails the test loudly (tests never skip).

#![allow(dead_code)]

/// The value of a required environment variable.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set. These tests need the real stack: run `deploy/dev.sh test`, or \
             `deploy/dev.sh stack && source <(deploy/dev.sh env)` before `cargo test`."
        )
    })
}

/// A name unique to this test run (for throw-away databases and topics).
pub fn unique(prefix: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// A ClickHouse client for the admin user, without a database selected.
pub fn clickhouse_admin() -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(env("RTCX_CLICKHOUSE_URL"))
        .with_user(env("RTCX_CLICKHOUSE_USER"))
        .with_password(std::env::var("RTCX_CLICKHOUSE_PASSWORD").unwrap_or_default())
}
