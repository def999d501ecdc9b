//! Test harness for ingest: the real app on a random port, producing to a throw-away topic on
//! the real Kafka broker, with API keys in the real Postgres.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rtcx_ingest::api_keys::{KeyStore, hash_key};
use rtcx_ingest::app::{AppState, Limits, RateLimits, router};
use rtcx_ingest::rate_limit::Rate;
use rtcx_ingest::sink::{EventSink, KafkaSink, KafkaSinkConfig};
use rtcx_ingest::usage::UsageRecorder;
use rtcx_schemas::FeedbackEvent;
pub use rtcx_service_kit::testing::{env, unique};
use sqlx::PgPool;
use uuid::Uuid;

pub const JWT_PRIVATE_PEM: &[u8] = include_bytes!("../fixtures/jwt-test-ed25519.key.pem");
pub const JWT_PUBLIC_PEM: &[u8] = include_bytes!("../fixtures/jwt-test-ed25519.pub.pem");

/// Settings of one test app.
#[derive(Clone)]
pub struct Options {
    pub brokers: String,
    /// Broker the test topic is created on (the stack's by default).
    pub topic_brokers: String,
    pub limits: Limits,
    pub rates: RateLimits,
    pub message_timeout: Duration,
    pub queue_max_messages: u32,
}

impl Default for Options {
    fn default() -> Self {
        let generous = Rate { per_second: 1e6, burst: 1e6 };
        Self {
            brokers: env("RTCX_KAFKA_BROKERS"),
            topic_brokers: env("RTCX_KAFKA_BROKERS"),
            limits: Limits::default(),
            rates: RateLimits { per_key: generous, per_ip: generous, public_per_ip: generous },
            message_timeout: Duration::from_secs(10),
            queue_max_messages: 100_000,
        }
    }
}

/// A running ingest app.
pub struct TestApp {
    pub url: String,
    pub topic: String,
    pub pool: PgPool,
    pub keys: Arc<KeyStore>,
    pub usage: Arc<UsageRecorder>,
    pub http: reqwest::Client,
    /// An API key with scope `ingest`, and its source name.
    pub key: String,
    pub key_id: Uuid,
    pub source: String,
}

pub async fn pool() -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&env("RTCX_POSTGRES_URL"))
        .await
        .expect("connect to RTCX_POSTGRES_URL")
}

/// Inserts an API key and returns (key, id).
pub async fn create_key(pool: &PgPool, source: &str, scopes: &[&str]) -> (String, Uuid) {
    let key = format!("rtcx_{}", Uuid::new_v4().simple());
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO api_keys (name, source, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(format!("test key for {source}"))
    .bind(source)
    .bind(&key[..9])
    .bind(hash_key(&key).to_vec())
    .bind(scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    .fetch_one(pool)
    .await
    .expect("insert API key");
    (key, id)
}

/// Creates a topic with `partitions` partitions on `brokers`.
pub async fn create_topic(brokers: &str, partitions: i32) -> String {
    let topic = unique("rtcx.test.ingest");
    rtcx_migrations::kafka_topics::ensure_topics(brokers, &[(topic.as_str(), partitions)], 1)
        .await
        .expect("create topic");
    topic
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Self {
        let topic = create_topic(&opts.topic_brokers, 3).await;
        let sink = KafkaSink::new(&KafkaSinkConfig {
            brokers: opts.brokers.clone(),
            topic: topic.clone(),
            message_timeout: opts.message_timeout,
            linger_ms: 1,
            queue_max_messages: opts.queue_max_messages,
        })
        .expect("producer");
        sink.spawn_availability_probe(Duration::from_millis(500));
        let pool = pool().await;
        let source = unique("src").replace('_', "-");
        let (key, key_id) = create_key(&pool, &source, &["ingest"]).await;
        let keys = Arc::new(KeyStore::default());
        keys.refresh(&pool).await.expect("load keys");
        let usage = Arc::new(UsageRecorder::default());
        let jwt = rtcx_ingest::jwt::JwtVerifier::from_ed_pem(JWT_PUBLIC_PEM, None, None).expect("jwt key");
        let state = AppState::new(
            sink as Arc<dyn EventSink>,
            Arc::clone(&keys),
            Some(jwt),
            Arc::clone(&usage),
            opts.limits,
            opts.rates,
        );
        let app = router(Arc::new(state), Duration::from_secs(30));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve");
        });
        Self {
            url: format!("http://{addr}"),
            topic,
            pool,
            keys,
            usage,
            http: reqwest::Client::new(),
            key,
            key_id,
            source,
        }
    }

    /// POST `body` to `path` with the test key and a JSON content type.
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        let auth = format!("Bearer {}", self.key);
        self.post_with(path, &[("authorization", &auth), ("content-type", "application/json")], body).await
    }

    /// POST `body` to `path` with exactly `headers` (no credentials unless listed).
    pub async fn post_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.url)).body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.expect("request")
    }

    /// Consumes `n` events from the app's topic (all partitions), or fails after 30 s.
    pub async fn consume(&self, n: usize) -> Vec<FeedbackEvent> {
        consume_from(&env("RTCX_KAFKA_BROKERS"), &self.topic, n).await
    }
}

/// Consumes `n` events from `topic` on `brokers` from the beginning.
pub async fn consume_from(brokers: &str, topic: &str, n: usize) -> Vec<FeedbackEvent> {
    let consumer = reader(brokers, topic);
    let mut out = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived on {topic}", out.len()))
            .expect("consume");
        let ev: FeedbackEvent = serde_json::from_slice(msg.payload().expect("payload")).expect("event JSON");
        assert_eq!(msg.key(), Some(ev.kafka_key().as_bytes()), "message key follows the key rule");
        out.push(ev);
    }
    out
}

/// A signed access token for `role`, expiring in `ttl_secs` (negative: already expired).
pub fn token(role: &str, ttl_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({ "sub": Uuid::now_v7(), "role": role, "iat": now, "exp": now + ttl_secs });
    let key = jsonwebtoken::EncodingKey::from_ed_pem(JWT_PRIVATE_PEM).expect("private key");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA), &claims, &key).expect("sign")
}

/// Reads `topic` from the beginning until every id in `ids` was seen (fails after 60 s);
/// returns how many messages were read.
pub async fn expect_ids(brokers: &str, topic: &str, ids: &std::collections::HashSet<String>) -> usize {
    let consumer = reader(brokers, topic);
    let mut missing = ids.clone();
    let mut read = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !missing.is_empty() {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} acknowledged events never reached {topic}: {:?}",
                    missing.len(),
                    missing.iter().take(5).collect::<Vec<_>>()
                )
            })
            .expect("consume");
        read += 1;
        let ev: FeedbackEvent = serde_json::from_slice(msg.payload().expect("payload")).expect("event JSON");
        missing.remove(&ev.id.to_string());
    }
    read
}

/// A consumer in a fresh group that reads `topic` from the beginning.
fn reader(brokers: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("rtcx-test"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}
