//! The query API's settings (flags or environment), validated at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

/// rtcx query API: auth, users, topics, alerts and dashboard analytics.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "RTCX_QUERY_API_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Postgres connection URL.
    #[arg(long, env = "RTCX_POSTGRES_URL", hide_env_values = true)]
    pub postgres_url: String,
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// How long dashboard answers are reused, in milliseconds (0 disables the cache).
    #[arg(long, env = "RTCX_QUERY_CACHE_TTL_MS", default_value_t = 5_000)]
    pub cache_ttl_ms: u64,
    /// Origins allowed to call the API from a browser (comma-separated; empty: none).
    #[arg(long, env = "RTCX_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Accept webhook URLs whose host is a loopback, private, link-local or other non-public
    /// IP address, or `localhost` (local development; the notifier's
    /// --allow-private-targets must agree for them to be delivered).
    #[arg(long, env = "RTCX_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub webhook_allow_private_targets: bool,
    #[command(flatten)]
    pub live: crate::live::LiveArgs,
    #[command(flatten)]
    pub embedder: crate::embedder::EmbedderArgs,
    #[command(flatten)]
    pub log: rtcx_service_kit::LogArgs,
}

/// Authentication settings.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Ed25519 private key (PKCS#8 PEM) that signs access tokens.
    #[arg(long, env = "RTCX_JWT_PRIVATE_KEY_FILE")]
    pub jwt_private_key_file: PathBuf,
    /// The matching public key (SPKI PEM); ingest verifies tokens with the same file.
    #[arg(long, env = "RTCX_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: PathBuf,
    /// `iss` of the access tokens.
    #[arg(long, env = "RTCX_JWT_ISSUER", default_value = "rtcx")]
    pub jwt_issuer: String,
    /// Access-token lifetime in seconds (short: logout takes effect through the session check,
    /// but a stolen token works until it expires elsewhere, e.g. in ingest).
    #[arg(long, env = "RTCX_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: i64,
    /// Refresh-token (session) lifetime in days; every refresh starts it again.
    #[arg(long, env = "RTCX_REFRESH_TOKEN_TTL_DAYS", default_value_t = 14)]
    pub refresh_token_ttl_days: i64,
    /// Allow anyone to register (role AGENT). Off: accounts are created by an administrator.
    #[arg(long, env = "RTCX_ALLOW_SELF_REGISTRATION", default_value_t = false)]
    pub allow_self_registration: bool,
    /// Take the client address from X-Forwarded-For (only behind a trusted proxy).
    #[arg(long, env = "RTCX_QUERY_API_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Failed logins allowed per account in 15 minutes.
    #[arg(long, env = "RTCX_LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    pub login_max_failures_per_account: usize,
    /// Failed logins allowed per client IP in 15 minutes.
    #[arg(long, env = "RTCX_LOGIN_MAX_FAILURES_PER_IP", default_value_t = 20)]
    pub login_max_failures_per_ip: usize,
}

impl AuthArgs {
    /// Checks the settings; the message names the offending flag.
    pub fn validate(&self) -> Result<(), String> {
        if !(60..=3600).contains(&self.access_token_ttl_secs) {
            return Err("--access-token-ttl-secs must be 60..=3600 (access tokens are short-lived)".into());
        }
        if !(1..=90).contains(&self.refresh_token_ttl_days) {
            return Err("--refresh-token-ttl-days must be 1..=90".into());
        }
        if self.login_max_failures_per_account == 0 || self.login_max_failures_per_ip == 0 {
            return Err("login failure limits must be at least 1".into());
        }
        Ok(())
    }
}

/// How rule previews run: the same settings as the processors' evaluator (same variables),
/// so that a preview shows what the live evaluator would raise.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct AlertArgs {
    /// Window width in seconds (whole minutes), as the evaluator's.
    #[arg(long = "alert-window-secs", env = "RTCX_ALERT_WINDOW_SECS", default_value_t = 300)]
    pub window_secs: u64,
    /// Days of history the baselines are computed from, as the evaluator's.
    #[arg(long = "alert-history-days", env = "RTCX_ALERT_HISTORY_DAYS", default_value_t = 8)]
    pub history_days: i64,
    /// Sensitivity of rules that do not set their own, as the evaluator's.
    #[arg(long = "alert-sensitivity", env = "RTCX_ALERT_SENSITIVITY", value_enum, default_value_t = rtcx_detect::detectors::Sensitivity::Medium)]
    pub sensitivity: rtcx_detect::detectors::Sensitivity,
}

impl Default for AlertArgs {
    fn default() -> Self {
        Self { window_secs: 300, history_days: 8, sensitivity: rtcx_detect::detectors::Sensitivity::Medium }
    }
}

impl AlertArgs {
    /// Checks the settings (the evaluator's own limits); the message names the offending flag.
    pub fn validate(&self) -> Result<(), String> {
        if !((60..=86_400).contains(&self.window_secs) && self.window_secs.is_multiple_of(60)) {
            return Err("--alert-window-secs must be whole minutes, 60..=86400".into());
        }
        if !(1..=35).contains(&self.history_days) {
            return Err("--alert-history-days must be 1..=35".into());
        }
        Ok(())
    }
}
