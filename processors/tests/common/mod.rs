//! Shared helpers of the pipeline tests: a throw-away set of topics and a ClickHouse
//! database per test, processor processes, producing events, and exact counts.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rtcx_service_kit::testing::{env, free_port, unique};
use serde_json::json;

/// Topics, consumer group and ClickHouse database of one test.
#[derive(Clone)]
pub struct TestEnv {
    pub brokers: String,
    pub clickhouse_url: String,
    pub database: String,
    pub raw: String,
    pub enriched: String,
    pub dlq: String,
    pub group: String,
    pub logs: PathBuf,
}

impl TestEnv {
    /// Creates the topics (raw with `partitions`) and a migrated ClickHouse database.
    pub async fn new(brokers: &str, clickhouse_url: &str, partitions: i32) -> Self {
        let id = unique("t");
        let t = Self {
            brokers: brokers.to_owned(),
            clickhouse_url: clickhouse_url.to_owned(),
            database: format!("rtcx_test_{id}"),
            raw: format!("rtcx.test.{id}.raw"),
            enriched: format!("rtcx.test.{id}.enriched"),
            dlq: format!("rtcx.test.{id}.dlq"),
            group: format!("rtcx-test-{id}"),
            logs: std::env::temp_dir().join(format!("rtcx-test-logs-{id}")),
        };
        std::fs::create_dir_all(&t.logs).expect("log dir");
        rtcx_migrations::kafka_topics::ensure_topics(
            brokers,
            &[(t.raw.as_str(), partitions), (t.enriched.as_str(), partitions), (t.dlq.as_str(), 1)],
            1,
        )
        .await
        .expect("create test topics");
        let server = clickhouse::Client::default().with_url(clickhouse_url).with_user("default");
        rtcx_migrations::ClickHouseMigrator::new(server, &t.database)
            .expect("migrator")
            .run()
            .await
            .expect("migrate the test database");
        t
    }

    /// Drops the test database (topics stay: Kafka deletes are slow and harmless to keep).
    pub async fn cleanup(&self) {
        let server = clickhouse::Client::default().with_url(&self.clickhouse_url).with_user("default");
        let _ = server.query(&format!("DROP DATABASE IF EXISTS {} SYNC", self.database)).execute().await;
        let _ = std::fs::remove_dir_all(&self.logs);
    }

    pub fn clickhouse(&self) -> clickhouse::Client {
        clickhouse::Client::default().with_url(&self.clickhouse_url).with_user("default").with_database(&self.database)
    }

    /// Starts a processor; `name` names its log file, `extra` adds environment variables.
    pub fn spawn_processor(&self, name: &str, lexicon: bool, extra: &[(&str, &str)]) -> Processor {
        let log_path = self.logs.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("log file");
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtcx-processors"));
        cmd.env("RTCX_KAFKA_BROKERS", &self.brokers)
            .env("RTCX_CLICKHOUSE_URL", &self.clickhouse_url)
            .env("RTCX_CLICKHOUSE_DATABASE", &self.database)
            .env("RTCX_CLICKHOUSE_USER", "default")
            .env("RTCX_CLICKHOUSE_PASSWORD", "")
            .env("RTCX_RAW_TOPIC", &self.raw)
            .env("RTCX_ENRICHED_TOPIC", &self.enriched)
            .env("RTCX_DLQ_TOPIC", &self.dlq)
            .env("RTCX_PROCESSORS_GROUP", &self.group)
            .env("RTCX_PROCESSORS_LISTEN", format!("127.0.0.1:{port}"))
            .env("RTCX_HEADS_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../models/rtcx-heads"))
            .env("RTCX_MODEL_DIR", env("RTCX_MODEL_DIR"))
            .env("RAYON_NUM_THREADS", "1")
            .env("RTCX_INFERENCE_WORKERS", "1")
            .env("RTCX_BATCH_MAX_ROWS", "200")
            .env("RTCX_BATCH_LINGER_MS", "300")
            .env("RTCX_KAFKA_SESSION_TIMEOUT_MS", "6000")
            .env_remove("RTCX_POSTGRES_URL")
            .env_remove("RTCX_LEXICON_ONLY")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        if lexicon {
            cmd.arg("--lexicon");
        }
        let child = cmd.spawn().expect("start rtcx-processors");
        Processor { child: Some(child), port, log: log_path }
    }

    /// Produces `messages` (key, payload) to the raw topic and waits for every delivery.
    pub async fn produce(&self, messages: &[(String, Vec<u8>)]) {
        produce_to(&self.brokers, &self.raw, messages).await;
    }

    /// Exact counts in ClickHouse.
    pub async fn counts(&self) -> Counts {
        counts(&self.clickhouse()).await
    }

    /// Waits until `feedback` holds `n` distinct ids (or panics after `timeout`).
    ///
    /// An insert commits the raw table's part before its views' parts, so once the ids are
    /// there it reads again (up to 3 s more) until every rollup has caught up with the raw
    /// rows; it returns the last reading either way, for the caller to assert on.
    pub async fn wait_for_rows(&self, n: u64, timeout: Duration) -> Counts {
        let deadline = Instant::now() + timeout;
        let mut settled_by: Option<Instant> = None;
        loop {
            let c = self.counts().await;
            if c.ids >= n {
                let rollups = [c.hourly, c.emotion, c.segment, c.journey];
                let by = *settled_by.get_or_insert_with(|| Instant::now() + Duration::from_secs(3));
                if rollups.iter().all(|&r| r == c.rows) || Instant::now() >= by {
                    return c;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert!(
                Instant::now() < deadline,
                "only {c:?} of {n} rows after {timeout:?}; logs in {}",
                self.logs.display()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Reads every message of `topic` (from the start) until `n` arrived or `timeout`.
    pub async fn read_topic(&self, topic: &str, n: usize, timeout: Duration) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", unique("rtcx-test-reader"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        while out.len() < n && Instant::now() < deadline {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await {
                out.push((m.key().map(<[u8]>::to_vec), m.payload().unwrap_or_default().to_vec()));
            }
        }
        // Anything beyond `n` (duplicates) shows up within a moment.
        while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(1500), consumer.recv()).await {
            out.push((m.key().map(<[u8]>::to_vec), m.payload().unwrap_or_default().to_vec()));
        }
        out
    }
}

pub async fn produce_to(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    let deliveries =
        messages.iter().map(|(k, p)| producer.send(FutureRecord::to(topic).key(k).payload(p), Duration::from_secs(60)));
    for d in futures::future::join_all(deliveries).await {
        d.map_err(|(e, _)| e).expect("delivered");
    }
}

/// A running `rtcx-ingest` publishing to a test's raw topic, with an API key of its own.
pub struct Ingest {
    child: Child,
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Ingest {
    /// Registers an ingest API key in `pg` and starts ingest on `t`'s raw topic.
    pub async fn start(t: &TestEnv, pg: &sqlx::PgPool) -> Self {
        use sha2::Digest as _;
        let key = format!("rtcx_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO api_keys (name, source, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, '{ingest}')",
        )
        .bind(format!("test {}", t.group))
        .bind("e2e")
        .bind(&key[..9])
        .bind(sha2::Sha256::digest(key.as_bytes()).to_vec())
        .execute(pg)
        .await
        .expect("insert API key");
        let port = free_port();
        let log = std::fs::File::create(t.logs.join("ingest.log")).expect("log");
        let child = Command::new(workspace_bin("rtcx-ingest"))
            .env("RTCX_INGEST_LISTEN", format!("127.0.0.1:{port}"))
            .env("RTCX_INGEST_TOPIC", &t.raw)
            .env("RTCX_KAFKA_BROKERS", &t.brokers)
            .env("RTCX_POSTGRES_URL", env("RTCX_POSTGRES_URL"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start rtcx-ingest");
        let ingest = Self { child, base: format!("http://127.0.0.1:{port}"), key, http: reqwest::Client::new() };
        eventually("ingest ready", Duration::from_secs(30), async || {
            ingest.http.get(format!("{}/health/ready", ingest.base)).send().await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        ingest
    }

    /// POSTs `items` to `/v1/feedback/batch` (at most 1 000 per request); the accepted ids.
    pub async fn post(&self, items: &[serde_json::Value]) -> Vec<String> {
        let mut ids = Vec::new();
        for chunk in items.chunks(1000) {
            let r = self
                .http
                .post(format!("{}/v1/feedback/batch", self.base))
                .bearer_auth(&self.key)
                .json(chunk)
                .send()
                .await
                .expect("post batch");
            assert_eq!(r.status(), 202, "batch accepted");
            let body: serde_json::Value = r.json().await.expect("json");
            for a in body["accepted"].as_array().expect("accepted") {
                ids.push(a["id"].as_str().expect("id").to_owned());
            }
        }
        ids
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A binary of the workspace, built next to this test (`cargo test --workspace` builds them).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let path = exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join(name)).expect("target dir");
    assert!(path.exists(), "{} is missing: build the workspace first (cargo build --workspace)", path.display());
    path
}

/// A running processor.
pub struct Processor {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Processor {
    /// SIGKILL: a crash, nothing flushed.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("processor did not stop within 60 s after SIGTERM; log {}", self.log.display());
        }
    }

    /// GET an ops endpoint; (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return (0, String::new());
        };
        let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        if s.write_all(req.as_bytes()).await.is_err() {
            return (0, String::new());
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, out)
    }
}

impl Drop for Processor {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Exact counts over the raw table and every rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Rows in `feedback` (no FINAL: duplicates would show).
    pub rows: u64,
    /// Distinct ids in `feedback`.
    pub ids: u64,
    pub hourly: u64,
    pub emotion: u64,
    pub segment: u64,
    pub journey: u64,
}

impl Counts {
    /// Asserts that the raw table and every rollup count exactly `n` events.
    pub fn assert_exactly(&self, n: u64) {
        let all = [self.rows, self.ids, self.hourly, self.emotion, self.segment, self.journey];
        assert!(all.iter().all(|&c| c == n), "expected {n} everywhere, got {self:?}");
    }
}

pub async fn counts(ch: &clickhouse::Client) -> Counts {
    let q = "SELECT assumeNotNull((SELECT count() FROM feedback)), assumeNotNull((SELECT uniqExact(id) FROM feedback)), \
             assumeNotNull((SELECT sum(feedback_count) FROM feedback_hourly)), \
             assumeNotNull((SELECT sum(feedback_count) FROM feedback_emotion_hourly)), \
             assumeNotNull((SELECT sum(feedback_count) FROM feedback_segment_daily)), \
             assumeNotNull((SELECT sum(feedback_count) FROM feedback_journey_daily))";
    // Retried (ClickHouse may be restarting in a test), but not forever.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match ch.query(q).fetch_one::<(u64, u64, u64, u64, u64, u64)>().await {
            Ok((rows, ids, hourly, emotion, segment, journey)) => {
                return Counts { rows, ids, hourly, emotion, segment, journey };
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "counting failed for 60 s: {e}");
                eprintln!("counting (will retry): {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

const TEXTS: [&str; 8] = [
    "The parcel arrived three days late and nobody answered my emails.",
    "Great service, the agent solved my problem in minutes!",
    "I was charged twice for the same order.",
    "The new app update is fantastic, so much faster.",
    "Where can I change my delivery address?",
    "Terrible experience, the product broke after one day.",
    "Thanks for the quick refund.",
    "The checkout page keeps crashing on my phone.",
];
const CHANNELS: [&str; 7] = ["web", "mobile_app", "email", "chat", "social", "survey", "call_center"];

/// A valid raw event (JSON), number `i` of a run; customers spread over keys.
pub fn event(i: usize) -> (String, Vec<u8>) {
    let id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    let customer = format!("c{}", i % 97);
    let segment = ["smb", "enterprise", "consumer"][i % 3];
    let stage = ["onboarding", "purchase", "support"][i % 3];
    let v = json!({
        "id": id,
        "received_at": now,
        "occurred_at": now - chrono::Duration::seconds((i % 3600) as i64),
        "channel": CHANNELS[i % CHANNELS.len()],
        "text": TEXTS[i % TEXTS.len()],
        "source": "pipeline-test",
        "customer_id": customer,
        "segment": segment,
        "journey_stage": stage,
        "nps": (i % 11) as u8,
    });
    (format!("pipeline-test/{customer}"), serde_json::to_vec(&v).expect("json"))
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn eventually(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A migrated ClickHouse database of its own, for tests that write feedback rows directly.
pub struct TempClickHouse {
    pub server: clickhouse::Client,
    pub name: String,
}

impl TempClickHouse {
    pub async fn new(prefix: &str) -> Self {
        let server = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL")).with_user("default");
        let name = format!("rtcx_test_{}", unique(prefix));
        rtcx_migrations::ClickHouseMigrator::new(server.clone(), &name)
            .expect("migrator")
            .run()
            .await
            .expect("migrate the test database");
        Self { server, name }
    }

    pub fn client(&self) -> clickhouse::Client {
        self.server.clone().with_database(&self.name)
    }

    pub async fn drop(self) {
        let _ = self.server.query(&format!("DROP DATABASE IF EXISTS {} SYNC", self.name)).execute().await;
    }
}
