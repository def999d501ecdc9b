//! Helpers shared by the migrations' integration tests.

#![allow(dead_code)]

pub use rtcx_service_kit::testing::{env, unique};

/// A ClickHouse client for the admin user, without a database selected.
pub fn clickhouse_admin() -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(env("RTCX_CLICKHOUSE_URL"))
        .with_user(env("RTCX_CLICKHOUSE_USER"))
        .with_password(std::env::var("RTCX_CLICKHOUSE_PASSWORD").unwrap_or_default())
}
