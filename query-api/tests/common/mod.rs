//! Shared helpers of the query-API tests: the router served in-process on a free port, with
//! the real Postgres.

#![allow(dead_code)]

pub mod events;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::StatusCode;
use rtcx_query_api::app::{AppState, router};
use rtcx_query_api::auth::Role;
use rtcx_query_api::auth::handlers::{Welcome, create_user};
use rtcx_query_api::auth::throttle::{LoginThrottle, ThrottleLimits};
use rtcx_query_api::auth::tokens::TokenService;
use rtcx_query_api::live::LiveArgs;
use rtcx_service_kit::testing::{env, unique};
use serde_json::{Value, json};

pub const PRIVATE: &[u8] = include_bytes!("../../../ingest/tests/fixtures/jwt-test-ed25519.key.pem");
pub const PUBLIC: &[u8] = include_bytes!("../../../ingest/tests/fixtures/jwt-test-ed25519.pub.pem");
pub const PASSWORD: &str = "Sturdy-Passw0rd";

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    /// Dropping it stops the live-update tasks.
    _stop_live: tokio::sync::watch::Sender<bool>,
}

pub async fn start(self_registration: bool, per_account: usize) -> Api {
    start_on(self_registration, per_account, clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL"))).await
}

/// A fresh, migrated ClickHouse database: (a client on it, its name).
pub async fn migrated_clickhouse() -> (clickhouse::Client, String) {
    let database = unique("rtcx_qapi").to_lowercase();
    let server = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL"));
    rtcx_migrations::ClickHouseMigrator::new(server.clone(), &database)
        .expect("migrator")
        .run()
        .await
        .expect("migrate the test database");
    (server.with_database(&database), database)
}

/// The API on a fresh, migrated ClickHouse database of its own: (api, database name).
pub async fn start_with_clickhouse() -> (Api, String) {
    let (ch, database) = migrated_clickhouse().await;
    (start_on(false, 50, ch).await, database)
}

/// As [`start_with_clickhouse`], with similar-feedback search reading `similar`'s lists.
pub async fn start_with_lists(similar: rtcx_query_api::similar::ListIndex) -> (Api, String) {
    let (ch, database) = migrated_clickhouse().await;
    (start_with(false, 50, ch, None, None, similar).await, database)
}

/// As [`start_with_clickhouse`], with the processors' model loaded for similar-feedback search
/// by text (RTCX_MODEL_DIR, set by deploy/dev.sh; the heads from RTCX_HEADS_DIR or the repo);
/// every search is exact (no lists).
pub async fn start_with_model() -> (Api, String) {
    start_with_model_and_lists(rtcx_query_api::similar::ListIndex::default()).await
}

/// As [`start_with_model`], with similar-feedback search reading `similar`'s lists.
pub async fn start_with_model_and_lists(similar: rtcx_query_api::similar::ListIndex) -> (Api, String) {
    let embedder = load_embedder().await;
    let (ch, database) = migrated_clickhouse().await;
    (start_with(false, 50, ch, None, Some(embedder), similar).await, database)
}

/// The processors' model for similar-feedback search by text (RTCX_MODEL_DIR, set by
/// deploy/dev.sh; the heads from RTCX_HEADS_DIR or the repo).
pub async fn load_embedder() -> Arc<rtcx_query_api::embedder::Embedder> {
    let args = rtcx_query_api::embedder::EmbedderArgs {
        model_dir: Some(env("RTCX_MODEL_DIR").into()),
        heads_dir: std::env::var("RTCX_HEADS_DIR")
            .map(Into::into)
            .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/rtcx-heads")),
        precision: None,
        similar_probes: 16,
    };
    let embedder = tokio::task::spawn_blocking(move || rtcx_query_api::embedder::Embedder::load(&args))
        .await
        .expect("join")
        .expect("load the model")
        .expect("a model folder was given");
    Arc::new(embedder)
}

/// Test topics of their own, and live settings for them (short timeouts and intervals).
pub async fn live_args() -> LiveArgs {
    let brokers = env("RTCX_KAFKA_BROKERS");
    let base = format!("rtcx.test.{}", unique("live"));
    let (enriched, alerts) = (format!("{base}.enriched"), format!("{base}.alerts"));
    rtcx_migrations::kafka_topics::ensure_topics(&brokers, &[(enriched.as_str(), 2), (alerts.as_str(), 1)], 1)
        .await
        .expect("topics");
    LiveArgs {
        brokers,
        enriched_topic: enriched,
        alerts_topic: alerts,
        live_auth_timeout_secs: 2,
        live_session_check_secs: 1,
        live_dashboard_interval_secs: 1,
        ..LiveArgs::default()
    }
}

/// The password-reset token queued for `email` (it travels through the outbox to the mail).
pub async fn reset_token(api: &Api, email: &str) -> String {
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE event_type = 'password_reset_requested' AND payload->>'email' = $1 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(email)
    .fetch_one(&api.state.pg)
    .await
    .expect("outbox event");
    field(&payload, "token").to_owned()
}

/// Drops a database made by [`start_with_clickhouse`].
pub async fn drop_clickhouse(database: &str) {
    let server = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL"));
    let _ = server.query(&format!("DROP DATABASE IF EXISTS {database} SYNC")).execute().await;
}

async fn start_on(self_registration: bool, per_account: usize, ch: clickhouse::Client) -> Api {
    start_with(self_registration, per_account, ch, None, None, Default::default()).await
}

/// The API with live updates from `live`'s topics (its Kafka consumer, dashboard ticker and
/// session check running), on the shared ClickHouse database or on `ch`.
pub async fn start_live(live: &LiveArgs, ch: Option<clickhouse::Client>) -> Api {
    let ch = ch.unwrap_or_else(|| clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL")));
    start_with(false, 50, ch, Some(live), None, Default::default()).await
}

/// As [`start_live`] on `ch`, with the processors' model for search by meaning ([`load_embedder`]).
pub async fn start_live_with_model(live: &LiveArgs, ch: clickhouse::Client) -> Api {
    start_with(false, 50, ch, Some(live), Some(load_embedder().await), Default::default()).await
}

async fn start_with(
    self_registration: bool,
    per_account: usize,
    ch: clickhouse::Client,
    live: Option<&LiveArgs>,
    embedder: Option<Arc<rtcx_query_api::embedder::Embedder>>,
    similar: rtcx_query_api::similar::ListIndex,
) -> Api {
    let defaults = LiveArgs::default();
    let live_args = live.unwrap_or(&defaults);
    let pg =
        sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&env("RTCX_POSTGRES_URL")).await.expect("pg");
    let state = Arc::new(AppState {
        pg,
        ch,
        tokens: TokenService::from_ed_pem(PRIVATE, PUBLIC, "rtcx", chrono::Duration::minutes(15)).expect("keys"),
        throttle: LoginThrottle::new(ThrottleLimits { per_account, ..ThrottleLimits::default() }),
        refresh_ttl: chrono::Duration::days(14),
        self_registration,
        trust_forwarded_for: false,
        alerts: rtcx_query_api::config::AlertArgs::default(),
        // Tests check fresh answers after inserting rows.
        cache: rtcx_query_api::cache::AnswerCache::new(std::time::Duration::ZERO),
        cors_origins: vec!["https://dashboard.example.com".parse().expect("origin")],
        webhook_allow_private_targets: false,
        live: rtcx_query_api::live::Hub::new(live_args.limits()),
        live_timings: live_args.timings(),
        embedder,
        similar,
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let Some(args) = live {
        rtcx_query_api::live::spawn(&state, args, stopped);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(Arc::clone(&state));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    Api { base: format!("http://{addr}"), http: reqwest::Client::new(), state, _stop_live: stop }
}

impl Api {
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn user(&self, role: Role) -> String {
        let email = format!("{}@example.com", unique("user").to_lowercase());
        create_user(&self.state, &email, "Test", PASSWORD, role, Welcome::None).await.expect("create user");
        email
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post("/v1/auth/login", None, json!({"email": email, "password": password})).await
    }
}

pub fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_else(|| panic!("{name} missing in {v}"))
}

impl Api {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A new user with `role`, logged in: (email, access token).
    pub async fn logged_in(&self, role: Role) -> (String, String) {
        let email = self.user(role).await;
        let (status, body) = self.login(&email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = field(&body, "access_token").to_owned();
        (email, token)
    }
}
