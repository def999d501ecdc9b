//! A complaint spike injected with `rtcx-loadgen` reaches the web console live, through the
//! whole real pipeline: loadgen → ingest (HTTP) → Kafka → a processor (the real model, the
//! alert evaluator and the outbox relay) → ClickHouse, Postgres and the alerts topic →
//! query-api's live socket → the alert list open in a headless chromium, without a reload.
//!
//! Fifteen minutes of backdated traffic (`rtcx-loadgen --history-minutes 15`) give the rules
//! their history; steady traffic goes on at the same rate while a spike of complaints runs on
//! email. One-minute windows, allowed lateness 10 s. The test takes about three minutes.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Ingest, TestEnv, eventually, workspace_bin};
use rtcx_service_kit::browser::Browser;
use rtcx_service_kit::testing::{env, free_port, unique};

const ADMIN_PASSWORD: &str = "Console-e2e-Passw0rd";
/// Steady traffic, events per second over all channels (history and live alike).
const RATE: u32 = 5;

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn loadgen(t: &TestEnv, ingest: &Ingest, args: &[&str], log: &str) -> Command {
    let mut cmd = Command::new(workspace_bin("rtcx-loadgen"));
    cmd.args(["--mode", "batch", "--batch-size", "10", "--duplicate-share", "0", "--no-progress", "--json"])
        .args(args)
        .env("RTCX_INGEST_URL", &ingest.base)
        .env("RTCX_API_KEY", &ingest.key)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(t.logs.join(log)).expect("log"));
    cmd
}

/// query-api on `t`'s database and topics, with an administrator.
async fn query_api(t: &TestEnv, pg_url: &str, alerts_topic: &str, admin: &str) -> (Running, String) {
    let port = free_port();
    let configure = |cmd: &mut Command| {
        cmd.env("RTCX_QUERY_API_LISTEN", format!("127.0.0.1:{port}"))
            .env("RTCX_POSTGRES_URL", pg_url)
            .env("RTCX_CLICKHOUSE_URL", &t.clickhouse_url)
            .env("RTCX_CLICKHOUSE_DATABASE", &t.database)
            .env("RTCX_CLICKHOUSE_USER", "default")
            .env("RTCX_CLICKHOUSE_PASSWORD", "")
            .env("RTCX_KAFKA_BROKERS", &t.brokers)
            .env("RTCX_ENRICHED_TOPIC", &t.enriched)
            .env("RTCX_ALERTS_TOPIC", alerts_topic)
            .env("RTCX_JWT_PRIVATE_KEY_FILE", env("RTCX_JWT_PRIVATE_KEY_FILE"))
            .env("RTCX_JWT_PUBLIC_KEY_FILE", env("RTCX_JWT_PUBLIC_KEY_FILE"))
            .env("RTCX_ADMIN_EMAIL", admin)
            .env("RTCX_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RTCX_LIVE_DASHBOARD_INTERVAL_SECS", "2");
    };
    let mut create = Command::new(workspace_bin("rtcx-query-api"));
    configure(&mut create);
    let out = create.arg("create-admin").output().expect("rtcx-query-api create-admin");
    assert!(out.status.success(), "create-admin: {}", String::from_utf8_lossy(&out.stderr));
    let mut serve = Command::new(workspace_bin("rtcx-query-api"));
    configure(&mut serve);
    let log = std::fs::File::create(t.logs.join("query-api.log")).expect("log");
    let child = serve.stdout(log.try_clone().expect("log")).stderr(log).spawn().expect("start rtcx-query-api");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually("query-api ready", Duration::from_secs(30), async || {
        http.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    (Running(child), base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loadgen_spike_appears_live_in_the_console() {
    let t = TestEnv::new(&env("RTCX_KAFKA_BROKERS"), &env("RTCX_CLICKHOUSE_URL"), 3).await;
    let alerts_topic = format!("{}.alerts", t.raw.trim_end_matches(".raw"));
    rtcx_migrations::kafka_topics::ensure_topics(&t.brokers, &[(alerts_topic.as_str(), 1)], 1).await.expect("topic");
    let pg_url = env("RTCX_POSTGRES_URL");
    let pg = sqlx::PgPool::connect(&pg_url).await.expect("postgres");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate");
    let ingest = Ingest::start(&t, &pg).await;
    let admin = format!("{}@example.com", unique("console-admin").to_lowercase());
    let (_api, base) = query_api(&t, &pg_url, &alerts_topic, &admin).await;

    // History: 15 minutes of steady traffic, backdated, stored before the live part starts.
    let history = (RATE * 60 * 15).to_string();
    let status = loadgen(&t, &ingest, &["--history-minutes", "15", "--count", &history], "history.log")
        .status()
        .expect("rtcx-loadgen (history)");
    assert!(status.success(), "the history was sent");
    let extra = [
        ("RTCX_POSTGRES_URL", pg_url.as_str()),
        ("RTCX_ALERTS_TOPIC", alerts_topic.as_str()),
        ("RTCX_ALERT_WINDOW_SECS", "60"),
        ("RTCX_ALERT_LATENESS_SECS", "10"),
        ("RTCX_ALERT_IDLE_TIMEOUT_SECS", "20"),
        ("RTCX_ALERT_TICK_SECS", "2"),
        ("RTCX_ALERT_HISTORY_DAYS", "1"),
        ("RTCX_ALERT_STALE_SECS", "120"),
    ];
    let _processor = t.spawn_processor("p", false, &extra);
    let rate = RATE.to_string();
    let _steady = Running(
        loadgen(&t, &ingest, &["--rate", &rate, "--count", "0", "--duration-secs", "400"], "steady.log")
            .spawn()
            .expect("rtcx-loadgen (steady)"),
    );
    t.wait_for_rows(u64::from(RATE * 60 * 15), Duration::from_secs(240)).await;

    // The console, signed in, on the alert list.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let b = Browser::start(1280, 800, shots).await;
    b.sign_in(&base, &admin, ADMIN_PASSWORD).await;
    b.client.goto(&format!("{base}/app/#/alerts")).await.expect("alerts");
    b.wait_for("[data-table=alerts], #view .note").await;
    b.until("the live connection", "document.getElementById('live-state').dataset.state === 'live'").await;
    b.js("window.__same_page = true; return null;").await;

    // The spike: complaints on email on top of the steady traffic, for two minutes.
    let spike = loadgen(
        &t,
        &ingest,
        &["--rate", "10", "--count", "0", "--duration-secs", "120", "--channel", "email", "--negative-share", "0.9"],
        "spike.log",
    )
    .spawn()
    .expect("rtcx-loadgen (spike)");
    let _spike = Running(spike);

    // The evaluator's alert on email, once it exists in Postgres.
    let evaluator = format!("{}/{}", t.group, t.raw);
    let mut id = None;
    eventually("an alert on email", Duration::from_secs(300), async || {
        id = sqlx::query_scalar::<_, uuid::Uuid>(
            "SELECT id FROM alerts WHERE evidence->>'evaluator' = $1 AND dimension->>'channel' = 'email' \
             ORDER BY created_at LIMIT 1",
        )
        .bind(&evaluator)
        .fetch_optional(&pg)
        .await
        .expect("alerts");
        id.is_some()
    })
    .await;
    let id = id.expect("alert id");

    // ...reaches the open list without a reload, with a notice, and opens with its evidence.
    let link = format!("[data-table=alerts] a[href='#/alerts/{id}']");
    b.until_for(
        "the alert in the open list",
        &format!("document.querySelector({link:?}) !== null"),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(b.js("return window.__same_page === true;").await, serde_json::json!(true), "no reload");
    b.screenshot("alerts-live-spike").await;
    b.client.goto(&format!("{base}/app/#/alerts/{id}")).await.expect("open the alert");
    b.wait_for("[data-alert-state]").await;
    let title = b.text("#view h1").await;
    assert!(title.contains("email"), "the title names the channel: {title}");
    b.wait_for("[data-chart=alert-window] canvas").await;
    b.wait_for(".samples li").await;
    b.screenshot("alert-spike").await;
    b.close().await;

    sqlx::query("DELETE FROM alerts WHERE evidence->>'evaluator' = $1")
        .bind(&evaluator)
        .execute(&pg)
        .await
        .expect("cleanup");
    t.cleanup().await;
}
