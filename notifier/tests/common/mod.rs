//! Shared by the notifier's tests: a real HTTP receiver on loopback whose paths behave like
//! the endpoints a notifier meets (accepting, flaky, slow, gone, refusing), webhooks and alert
//! events in the real Postgres, and an independent check of the signature (Python's `hmac`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use rtcx_schemas::AlertEvent;
use rtcx_service_kit::testing::env;
use sqlx::PgPool;
use uuid::Uuid;

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    hits: HashMap<String, usize>,
}

/// An HTTP server on 127.0.0.1. Paths: `/ok/*` 200; `/flaky/{n}/*` 500 for the first `n`
/// requests then 200; `/busy/*` 503 with `Retry-After: 1`; `/slow/{ms}/*` answers 200 after
/// `ms`; `/gone/*` 410; `/bad/*` 400; `/redirect/*` 307 to `/ok/`.
pub struct Receiver {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

async fn handle(
    State(log): State<Arc<Mutex<Log>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, &'static str) {
    let n = {
        let mut l = log.lock().expect("log");
        l.received.push(Received { path: path.clone(), headers, body });
        let n = l.hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    let parts: Vec<&str> = path.split('/').collect();
    let mut out = HeaderMap::new();
    let status = match parts.as_slice() {
        ["ok", ..] => StatusCode::OK,
        ["flaky", k, ..] if n <= k.parse::<usize>().unwrap_or(0) => StatusCode::INTERNAL_SERVER_ERROR,
        ["flaky", ..] => StatusCode::NO_CONTENT,
        ["busy", ..] => {
            out.insert("retry-after", "1".parse().expect("header"));
            StatusCode::SERVICE_UNAVAILABLE
        }
        ["slow", ms, ..] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            StatusCode::OK
        }
        ["gone", ..] => StatusCode::GONE,
        ["redirect", ..] => {
            out.insert("location", "/ok/redirected".parse().expect("header"));
            StatusCode::TEMPORARY_REDIRECT
        }
        _ => StatusCode::BAD_REQUEST,
    };
    (status, out, "receiver says hello")
}

impl Receiver {
    pub async fn start() -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = Router::new().route("/{*path}", post(handle)).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
        Self { addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// What arrived on paths starting with `prefix`.
    pub fn received(&self, prefix: &str) -> Vec<Received> {
        self.log.lock().expect("log").received.iter().filter(|r| r.path.starts_with(prefix)).cloned().collect()
    }

    /// Waits until `n` requests arrived on `prefix` (panics after `within`).
    pub async fn wait_for(&self, prefix: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received(prefix);
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} requests on {prefix} within {within:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

static QUEUE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the delivery queue for one test (a binary's tests share it, so they take turns):
/// earlier runs' pending deliveries are set aside and their webhooks deactivated.
pub async fn take_queue(pg: &PgPool) -> tokio::sync::MutexGuard<'static, ()> {
    let guard = QUEUE.lock().await;
    sqlx::query("UPDATE notification_deliveries SET status = 'skipped' WHERE status = 'pending'")
        .execute(pg)
        .await
        .expect("set aside");
    sqlx::query("UPDATE webhooks SET active = false WHERE active").execute(pg).await.expect("old webhooks");
    guard
}

/// The migrated test database.
pub async fn postgres() -> PgPool {
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&env("RTCX_POSTGRES_URL"))
        .await
        .expect("postgres (RTCX_POSTGRES_URL)");
    rtcx_migrations::postgres::migrate(&pg).await.expect("migrate");
    pg
}

/// A webhook endpoint; returns its id and secret.
pub async fn webhook(pg: &PgPool, url: &str, events: &[&str], format: &str) -> (Uuid, String) {
    let secret = rtcx_schemas::credentials::new_webhook_secret();
    let id = sqlx::query_scalar(
        "INSERT INTO webhooks (name, url, secret, event_types, format) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(format!("test {url}"))
    .bind(url)
    .bind(&secret)
    .bind(events.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    .bind(format)
    .fetch_one(pg)
    .await
    .expect("webhook");
    (id, secret)
}

/// A new alert event (`RAISED`) with a fresh id.
pub fn alert(title: &str) -> AlertEvent {
    serde_json::from_value(serde_json::json!({
        "id": Uuid::new_v4(), "alert_type": "HIGH_VOLUME_NEGATIVE", "severity": "HIGH", "title": title,
        "description": "Negative feedback on email is 4× its baseline", "dimension": {"channel": "email"},
        "window_start": "2026-12-01T10:00:00Z", "window_end": "2026-12-01T10:05:00Z",
        "metric": "negative_count", "observed": 48.0, "baseline": 12.0, "evidence": {"sample_feedback_ids": []},
        "created_at": chrono::Utc::now(), "rule": "channel_negative_volume"
    }))
    .expect("alert event")
}

/// Checks a Standard Webhooks signature with Python's standard library (an implementation
/// independent of the notifier's).
pub fn verify_with_python(secret: &str, r: &Received) -> bool {
    let script = "import base64, hashlib, hmac, sys\n\
        secret, msg_id, ts, sig, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.stdin.buffer.read()\n\
        key = base64.b64decode(secret.removeprefix('whsec_'))\n\
        mac = hmac.new(key, msg_id.encode() + b'.' + ts.encode() + b'.' + body, hashlib.sha256).digest()\n\
        ok = any(hmac.compare_digest(s.split(',', 1)[1], base64.b64encode(mac).decode()) for s in sig.split(' ') if s.startswith('v1,'))\n\
        sys.exit(0 if ok else 1)\n";
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            secret,
            &r.header("webhook-id"),
            &r.header("webhook-timestamp"),
            &r.header("webhook-signature"),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(&r.body).expect("write body");
    }
    child.wait().expect("python3 exits").success()
}

/// A delivery's state: (status, attempts, last_response, last_error). `destination` is
/// `webhook:<id>` or `email:<address>`.
pub async fn delivery_state(
    pg: &PgPool,
    destination: &str,
    message_id: &str,
) -> (String, i32, Option<i32>, Option<String>) {
    sqlx::query_as(
        "SELECT status, attempts, last_response, last_error FROM notification_deliveries
         WHERE destination = $1 AND message_id = $2",
    )
    .bind(destination)
    .bind(message_id)
    .fetch_one(pg)
    .await
    .expect("delivery")
}

/// A mail the dev SMTP server stored (deploy/smtp/server.py), parsed by Python's `email`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub envelope_to: String,
    pub subject: String,
    pub message_id: String,
    pub content_type: String,
    pub text: String,
    pub html: String,
}

/// The mails in the dev server's Maildir (`RTCX_DEV_MAILDIR`) whose envelope names `address`.
pub fn mails_to(address: &str) -> Vec<Mail> {
    let script = r#"
import email, email.policy, json, os, sys
root, address = sys.argv[1], sys.argv[2].lower()
out = []
for sub in ("new", "cur"):
    d = os.path.join(root, sub)
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), "rb") as f:
            m = email.message_from_binary_file(f, policy=email.policy.default)
        to = [a.strip().lower() for a in str(m.get("X-Rtcx-Envelope-To", "")).split(",")]
        if address not in to:
            continue
        text = m.get_body(("plain",)); html = m.get_body(("html",))
        out.append({"to": str(m["To"]), "envelope_to": str(m["X-Rtcx-Envelope-To"]), "subject": str(m["Subject"]),
                    "message_id": str(m["Message-ID"]), "content_type": m.get_content_type(),
                    "text": text.get_content() if text else "", "html": html.get_content() if html else ""})
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &env("RTCX_DEV_MAILDIR"), address])
        .output()
        .expect("python3");
    assert!(out.status.success(), "reading the Maildir: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("mails as JSON")
}

/// A user; returns its id.
pub async fn user(pg: &PgPool, email: &str, role: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO users (email, password_hash, role) VALUES ($1, 'x', $2) RETURNING id")
        .bind(email)
        .bind(role)
        .fetch_one(pg)
        .await
        .expect("user")
}
