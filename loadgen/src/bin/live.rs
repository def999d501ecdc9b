//! `rtcx-live`: a WebSocket client of the query API's live updates (`GET /v1/ws`).
//!
//! - `tail` prints the messages of some rooms as they arrive (the demo's `live-tail` runs it
//!   on `alerts`), reconnecting after restarts;
//! - `bench` opens many connections at once, raises alerts by hand meanwhile, and reports the
//!   delivery latencies, whether any connection missed or was dropped, and the server's memory
//!   per connection (docs/benchmarks.md, "Live updates").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Debug, Parser)]
#[command(name = "rtcx-live", version)]
struct Args {
    /// Base URL of the query API.
    #[arg(long, env = "RTCX_LIVE_URL", default_value = "http://127.0.0.1:8081")]
    url: String,
    /// Account to log in with.
    #[arg(long, env = "RTCX_ADMIN_EMAIL")]
    email: String,
    #[arg(long, env = "RTCX_ADMIN_PASSWORD", hide_env_values = true)]
    password: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the messages of rooms as they arrive, one line each; reconnects when the
    /// connection ends.
    Tail {
        /// Rooms to join (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "alerts")]
        rooms: Vec<String>,
        /// Print the JSON messages as they are instead of one line of text.
        #[arg(long)]
        json: bool,
    },
    /// Many connections at once: latency, completeness and memory per connection.
    Bench {
        /// Connections to open.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Rooms every connection joins (comma-separated; default: every channel and alerts).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "alerts,channel:web,channel:mobile_app,channel:email,channel:chat,channel:social,channel:survey,channel:call_center"
        )]
        rooms: Vec<String>,
        /// Seconds to measure for, once every connection has joined.
        #[arg(long, default_value_t = 60)]
        duration_secs: u64,
        /// Alerts to raise by hand (POST /v1/alerts) during the measurement.
        #[arg(long, default_value_t = 20)]
        alerts: usize,
        /// The query API's process id, to read its memory (VmRSS) before and after connecting.
        #[arg(long)]
        server_pid: Option<u32>,
    },
}

async fn login(http: &reqwest::Client, args: &Args) -> anyhow::Result<String> {
    let resp = http
        .post(format!("{}/v1/auth/login", args.url))
        .json(&json!({"email": args.email, "password": args.password}))
        .send()
        .await
        .context("logging in")?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or_default();
    match body["access_token"].as_str() {
        Some(t) if status.is_success() => Ok(t.to_owned()),
        _ => bail!("login failed ({status}): {body}"),
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a connection, reads `welcome` and joins `rooms`.
async fn connect(base: &str, token: &str, rooms: &[String]) -> anyhow::Result<Ws> {
    let mut req = format!("{}/v1/ws", base.replacen("http", "ws", 1)).into_client_request()?;
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.context("opening the WebSocket")?;
    let welcome = next_json(&mut ws).await?.context("closed before welcome")?;
    if welcome["type"] != "welcome" {
        bail!("expected welcome, got {welcome}");
    }
    for room in rooms {
        ws.send(Message::Text(json!({"type": "subscribe", "room": room}).to_string().into())).await?;
        // Events of the rooms joined so far may come first.
        let answer = loop {
            let m = next_json(&mut ws).await?.context("closed while subscribing")?;
            if !matches!(m["type"].as_str(), Some("feedback" | "alert" | "dashboard")) {
                break m;
            }
        };
        if answer["type"] != "subscribed" {
            bail!("joining {room}: {answer}");
        }
    }
    Ok(ws)
}

/// The next JSON message (control frames skipped); `None` when the connection closed, with
/// the close code in the error when the server gave one.
async fn next_json(ws: &mut Ws) -> anyhow::Result<Option<Value>> {
    while let Some(m) = ws.next().await {
        match m? {
            Message::Text(t) => return Ok(Some(serde_json::from_str(t.as_str())?)),
            Message::Close(Some(c)) => bail!("closed by the server: {} {}", u16::from(c.code), c.reason),
            Message::Close(None) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

fn describe(m: &Value) -> String {
    let now = chrono::Utc::now();
    let d = &m["data"];
    match m["type"].as_str().unwrap_or("?") {
        "alert" => {
            let age = d["created_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| format!(" (raised {:.1} s ago)", (now - t.to_utc()).num_milliseconds() as f64 / 1000.0))
                .unwrap_or_default();
            format!(
                "{now} {} {} {} {:?}{age}",
                m["room"].as_str().unwrap_or("?"),
                m["event_type"].as_str().unwrap_or("?"),
                d["severity"].as_str().unwrap_or("?"),
                d["title"].as_str().unwrap_or("?")
            )
        }
        "feedback" => format!(
            "{now} {} {} {:?}",
            m["room"].as_str().unwrap_or("?"),
            d["sentiment"]["label"].as_str().unwrap_or("?"),
            d["text"].as_str().unwrap_or("?").chars().take(100).collect::<String>()
        ),
        other => format!("{now} {other} {m}"),
    }
}

async fn tail(args: &Args, rooms: &[String], raw: bool) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    loop {
        let session = async {
            let token = login(&http, args).await?;
            let mut ws = connect(&args.url, &token, rooms).await?;
            println!("{} connected to {}/v1/ws, rooms {}", chrono::Utc::now(), args.url, rooms.join(","));
            while let Some(m) = next_json(&mut ws).await? {
                println!("{}", if raw { m.to_string() } else { describe(&m) });
            }
            anyhow::Ok(())
        };
        if let Err(e) = session.await {
            eprintln!("{} {e:#}; reconnecting in 5 s", chrono::Utc::now());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// What one bench connection saw.
#[derive(Default)]
struct Seen {
    /// Sequence numbers of the feedback events received.
    feedback: Vec<u64>,
    /// Milliseconds from `processed_at` to receipt.
    feedback_ms: Vec<f64>,
    /// Alert title → when it arrived.
    alerts: HashMap<String, Instant>,
    /// Why the connection ended early, if it did.
    ended: Option<String>,
}

async fn bench(
    args: &Args,
    clients: usize,
    rooms: &[String],
    duration: Duration,
    alerts: usize,
    pid: Option<u32>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let token = login(&http, args).await?;
    let rss_before = rss_kib(pid);
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(clients);
    for chunk in (0..clients).collect::<Vec<_>>().chunks(50) {
        let opened = futures::future::join_all(chunk.iter().map(|_| connect(&args.url, &token, rooms))).await;
        for ws in opened {
            sockets.push(ws.context("a bench connection (raise RTCX_LIVE_MAX_CONNECTIONS_PER_USER for the bench)")?);
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let stopped = stop.notified();
            tokio::pin!(stopped);
            loop {
                let m = tokio::select! {
                    _ = &mut stopped => break,
                    m = next_json(&mut ws) => m,
                };
                let m = match m {
                    Ok(Some(m)) => m,
                    Ok(None) => {
                        seen.ended = Some("closed".into());
                        break;
                    }
                    Err(e) => {
                        seen.ended = Some(e.to_string());
                        break;
                    }
                };
                match m["type"].as_str() {
                    Some("feedback") => {
                        let seq: Option<u64> =
                            m["id"].as_str().and_then(|i| i.split_once('-')).and_then(|(_, s)| s.parse().ok());
                        seen.feedback.extend(seq);
                        if let Some(t) = m["data"]["processed_at"]
                            .as_str()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        {
                            seen.feedback_ms.push(
                                (chrono::Utc::now() - t.to_utc()).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                            );
                        }
                    }
                    Some("alert") => {
                        if let Some(title) = m["data"]["title"].as_str() {
                            seen.alerts.entry(title.to_owned()).or_insert_with(Instant::now);
                        }
                    }
                    _ => {}
                }
            }
            let _ = ws.close(None).await;
            seen
        }));
    }
    let rss_connected = rss_kib(pid);
    // Alerts raised by hand during the measurement: outbox → relay → Kafka → every instance.
    let mut raised: HashMap<String, Instant> = HashMap::new();
    let run = Instant::now();
    let gap = duration / (alerts as u32 + 1);
    let tag = uuid::Uuid::now_v7().simple().to_string();
    for i in 0..alerts {
        tokio::time::sleep(gap).await;
        let title = format!("live bench {tag} #{i}");
        let resp = http
            .post(format!("{}/v1/alerts", args.url))
            .bearer_auth(&token)
            .json(&json!({"alert_type": "SYSTEM_ANOMALY", "severity": "LOW", "title": title}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("raising an alert: {}", resp.status());
        }
        raised.insert(title, Instant::now());
    }
    tokio::time::sleep(duration.saturating_sub(run.elapsed())).await;
    let rss_end = rss_kib(pid);
    stop.notify_waiters();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await?);
    }

    let dropped: Vec<&String> = seen.iter().filter_map(|s| s.ended.as_ref()).collect();
    // Every connection joined the same rooms: between the latest first and the earliest last
    // feedback event any of them saw, all must have seen the same events.
    let lo = seen.iter().filter_map(|s| s.feedback.first()).max().copied().unwrap_or(0);
    let hi = seen.iter().filter_map(|s| s.feedback.last()).min().copied().unwrap_or(0);
    let counts: Vec<usize> = seen.iter().map(|s| s.feedback.iter().filter(|q| (lo..=hi).contains(q)).count()).collect();
    let (min, max) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
    let mut feedback_ms: Vec<f64> = seen.iter().flat_map(|s| s.feedback_ms.iter().copied()).collect();
    let mut alert_ms = Vec::new();
    let mut missing_alerts = 0;
    for s in &seen {
        for (title, at) in &raised {
            match s.alerts.get(title) {
                Some(got) => alert_ms.push(got.saturating_duration_since(*at).as_secs_f64() * 1000.0),
                None => missing_alerts += 1,
            }
        }
    }
    let total: usize = seen.iter().map(|s| s.feedback.len()).sum();
    println!("connections          {clients} (opened and joined {} rooms in {connect_secs:.1} s)", rooms.len());
    println!("measured             {:.0} s", run.elapsed().as_secs_f64());
    println!(
        "feedback messages    {total} received, {:.0}/s per connection",
        total as f64 / clients as f64 / run.elapsed().as_secs_f64()
    );
    println!("common span          events {lo}..={hi}: every connection got between {min} and {max} of them");
    println!(
        "dropped connections  {}{}",
        dropped.len(),
        dropped.first().map(|d| format!(" (first: {d})")).unwrap_or_default()
    );
    println!(
        "feedback latency     processed_at → received: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms",
        percentile(&mut feedback_ms, 0.5),
        percentile(&mut feedback_ms, 0.95),
        percentile(&mut feedback_ms, 0.99)
    );
    println!(
        "alert latency        API answer → received: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms ({} deliveries, {missing_alerts} missing)",
        percentile(&mut alert_ms, 0.5),
        percentile(&mut alert_ms, 0.95),
        percentile(&mut alert_ms, 1.0),
        alert_ms.len()
    );
    if let (Some(a), Some(b), Some(c)) = (rss_before, rss_connected, rss_end) {
        println!(
            "server memory        VmRSS {} MiB before, {} MiB connected (+{:.1} KiB per connection), {} MiB at the end",
            a / 1024,
            b / 1024,
            (b as f64 - a as f64) / clients as f64,
            c / 1024
        );
    }
    if !dropped.is_empty() || min != max || missing_alerts > 0 {
        bail!("some connections missed messages or were dropped");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.command {
        Command::Tail { rooms, json } => tail(&args, rooms, *json).await,
        Command::Bench { clients, rooms, duration_secs, alerts, server_pid } => {
            bench(&args, *clients, rooms, Duration::from_secs(*duration_secs), *alerts, *server_pid).await
        }
    }
}
