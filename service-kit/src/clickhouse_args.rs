//! ClickHouse connection settings shared by every service that talks to ClickHouse.

/// ClickHouse connection settings (flatten into a service's config).
#[derive(Debug, Clone, clap::Args)]
pub struct ClickHouseArgs {
    /// ClickHouse HTTP URL.
    #[arg(long, env = "RTCX_CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    pub clickhouse_url: String,
    /// ClickHouse database.
    #[arg(long, env = "RTCX_CLICKHOUSE_DATABASE", default_value = "rtcx")]
    pub clickhouse_database: String,
    /// ClickHouse user.
    #[arg(long, env = "RTCX_CLICKHOUSE_USER", default_value = "default")]
    pub clickhouse_user: String,
    /// ClickHouse password.
    #[arg(long, env = "RTCX_CLICKHOUSE_PASSWORD", default_value = "", hide_env_values = true)]
    pub clickhouse_password: String,
}

impl ClickHouseArgs {
    /// A client with URL and credentials, without a database selected.
    pub fn server_client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.clickhouse_url)
            .with_user(&self.clickhouse_user)
            .with_password(&self.clickhouse_password)
    }

    /// A client on the configured database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.clickhouse_database)
    }
}
