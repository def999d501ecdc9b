//! `rtcx-loadgen`: sends realistic synthetic customer feedback to rtcx.
//!
//! Modes: `single`, `batch` and `ndjson` post to ingest's HTTP endpoints; `kafka` produces
//! [`FeedbackEvent`]s straight to the raw topic (as an integration that bypasses ingest would,
//! and as the ceiling for ingest's throughput). Runs at a fixed rate (open loop: latency is
//! measured from each request's scheduled start, so a stalled server cannot hide queueing) or
//! as fast as `--concurrency` allows, shows a progress bar, and prints throughput and latency
//! percentiles (`--json` for a machine-readable summary).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rtcx_loadgen::synthetic::{Generator, Mix};
use rtcx_schemas::{Channel, FeedbackEvent, FeedbackSubmission, topics};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// One event per `POST /v1/feedback`.
    Single,
    /// `--batch-size` events per `POST /v1/feedback/batch`.
    Batch,
    /// `--batch-size` events per `POST /v1/feedback/ndjson`.
    Ndjson,
    /// Straight to Kafka (no HTTP): the raw producer ceiling.
    Kafka,
}

/// Sends synthetic customer feedback to rtcx and reports throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "rtcx-loadgen", version)]
struct Args {
    /// Transport.
    #[arg(long, value_enum, default_value = "batch")]
    mode: Mode,
    /// Ingest base URL (HTTP modes).
    #[arg(long, env = "RTCX_INGEST_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key with the `ingest` scope (HTTP modes).
    #[arg(long, env = "RTCX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Kafka bootstrap servers (kafka mode).
    #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    kafka_brokers: String,
    /// Topic (kafka mode).
    #[arg(long, default_value = topics::FEEDBACK_RAW)]
    topic: String,
    /// Source name stamped on events (kafka mode; HTTP modes take it from the API key).
    #[arg(long, default_value = "loadgen")]
    source: String,
    /// Events per second; 0 sends as fast as --concurrency allows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Events to send; 0 runs until --duration-secs or Ctrl-C.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Stop after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    duration_secs: u64,
    /// Events per request (batch and ndjson modes) or per producer round (kafka mode: enqueue
    /// this many, then await their acknowledgements).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Requests (or Kafka messages) in flight at most.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Share of negative texts, in [0, 1].
    #[arg(long, default_value_t = 0.3)]
    negative_share: f64,
    /// Send every event on this channel (web, mobile_app, email, chat, social, survey,
    /// call_center) instead of all channels evenly. With a high --negative-share, next to the
    /// demo traffic, this is a complaint spike the alert rules catch (`deploy/dev.sh spike`).
    #[arg(long, value_parser = parse_channel)]
    channel: Option<Channel>,
    /// Share of events re-sent with the same idempotency key, in [0, 1].
    #[arg(long, default_value_t = 0.02)]
    duplicate_share: f64,
    /// Backdate the events: their event times (`occurred_at`) spread evenly over the last this
    /// many minutes, oldest first, instead of "now". Gives the alert rules the history they
    /// need (12 windows) at once, e.g. before a spike in a test. Needs --count; at most 1440.
    #[arg(long, default_value_t = 0)]
    history_minutes: u32,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Event times spread evenly over the last minutes, oldest first (`--history-minutes`).
struct History {
    start: chrono::DateTime<chrono::Utc>,
    step_ms: f64,
}

impl History {
    fn new(minutes: u32, count: u64, now: chrono::DateTime<chrono::Utc>) -> Self {
        let span_ms = f64::from(minutes) * 60_000.0;
        Self { start: now - chrono::Duration::minutes(i64::from(minutes)), step_ms: span_ms / count.max(1) as f64 }
    }

    /// The event time of the `i`-th event.
    fn at(&self, i: u64) -> chrono::DateTime<chrono::Utc> {
        self.start + chrono::Duration::milliseconds((i as f64 * self.step_ms) as i64)
    }
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    s.parse::<Channel>().map_err(|e| e.to_string())
}

/// What one unit of work (a request or a Kafka message) came to.
struct Outcome {
    events: u64,
    ok: bool,
    status: String,
    latency: Duration,
}

struct Stats {
    latency_us: Histogram<u64>,
    ok_events: u64,
    failed_events: u64,
    by_status: BTreeMap<String, u64>,
}

impl Stats {
    fn record(&mut self, o: &Outcome) {
        let _ = self.latency_us.record(u64::try_from(o.latency.as_micros()).unwrap_or(u64::MAX).max(1));
        if o.ok {
            self.ok_events += o.events;
        } else {
            self.failed_events += o.events;
        }
        *self.by_status.entry(o.status.clone()).or_default() += 1;
    }
}

enum Transport {
    Http { client: reqwest::Client, url: String, api_key: String, mode: Mode },
    Kafka { producer: FutureProducer, topic: String, source: String },
}

impl Transport {
    async fn send(&self, subs: Vec<FeedbackSubmission>) -> (bool, String) {
        match self {
            Transport::Kafka { producer, topic, source } => {
                // Enqueue the whole unit, then await every acknowledgement (as ingest does).
                let mut deliveries = Vec::with_capacity(subs.len());
                for sub in subs {
                    let ev = FeedbackEvent::from_submission(sub, source, Utc::now(), false);
                    let Ok(payload) = serde_json::to_vec(&ev) else { return (false, "serialize".into()) };
                    let key = ev.kafka_key();
                    match producer.send_result(FutureRecord::to(topic).key(&key).payload(&payload)) {
                        Ok(d) => deliveries.push(d),
                        Err((e, _)) => return (false, format!("kafka: {e}")),
                    }
                }
                let mut status = "delivered".to_owned();
                let mut all_ok = true;
                for d in deliveries {
                    match d.await {
                        Ok(Ok(_)) => {}
                        Ok(Err((e, _))) => {
                            all_ok = false;
                            status = format!("kafka: {e}");
                        }
                        Err(_) => {
                            all_ok = false;
                            status = "kafka: cancelled".into();
                        }
                    }
                }
                (all_ok, status)
            }
            Transport::Http { client, url, api_key, mode } => {
                let req = match mode {
                    Mode::Single => {
                        let Some(sub) = subs.into_iter().next() else { return (true, "empty".into()) };
                        let key = sub.idempotency_key.clone().unwrap_or_default();
                        client
                            .post(format!("{url}/v1/feedback"))
                            .header("content-type", "application/json")
                            .header("idempotency-key", key)
                            .body(serde_json::to_vec(&sub).unwrap_or_default())
                    }
                    Mode::Batch => client
                        .post(format!("{url}/v1/feedback/batch"))
                        .header("content-type", "application/json")
                        .body(serde_json::to_vec(&subs).unwrap_or_default()),
                    Mode::Ndjson | Mode::Kafka => {
                        let mut body = Vec::new();
                        for s in &subs {
                            if serde_json::to_writer(&mut body, s).is_ok() {
                                body.push(b'\n');
                            }
                        }
                        client
                            .post(format!("{url}/v1/feedback/ndjson"))
                            .header("content-type", "application/x-ndjson")
                            .body(body)
                    }
                };
                match req.bearer_auth(api_key).send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.bytes().await;
                        (status == reqwest::StatusCode::ACCEPTED, status.as_u16().to_string())
                    }
                    Err(e) => (false, if e.is_timeout() { "timeout".into() } else { "connection error".into() }),
                }
            }
        }
    }
}

fn summary_line(args: &Args, stats: &Stats, secs: f64) -> String {
    let h = &stats.latency_us;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    if args.json {
        serde_json::json!({
            "mode": format!("{:?}", args.mode).to_lowercase(),
            "events_ok": stats.ok_events,
            "events_failed": stats.failed_events,
            "seconds": secs,
            "events_per_sec": stats.ok_events as f64 / secs.max(1e-9),
            "requests": h.len(),
            "latency_ms": {"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "max": h.max() as f64 / 1000.0},
            "by_status": stats.by_status,
        })
        .to_string()
    } else {
        format!(
            "rtcx-loadgen {:?}: {} events ok, {} failed in {secs:.2} s = {:.0} events/s; {} {} latency ms p50 {:.2} p90 \
             {:.2} p99 {:.2} max {:.2}; by status {:?}",
            args.mode,
            stats.ok_events,
            stats.failed_events,
            stats.ok_events as f64 / secs.max(1e-9),
            h.len(),
            if args.mode == Mode::Kafka { "message" } else { "request" },
            ms(0.5),
            ms(0.9),
            ms(0.99),
            h.max() as f64 / 1000.0,
            stats.by_status
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((0.0..=1.0).contains(&args.negative_share), "--negative-share must be in [0, 1]");
    anyhow::ensure!((0.0..=1.0).contains(&args.duplicate_share), "--duplicate-share must be in [0, 1]");
    anyhow::ensure!(args.rate >= 0.0 && args.rate.is_finite(), "--rate must be >= 0");
    anyhow::ensure!(args.concurrency > 0 && args.batch_size > 0, "--concurrency and --batch-size must be positive");
    anyhow::ensure!(
        args.history_minutes == 0 || (args.count > 0 && args.history_minutes <= 1440),
        "--history-minutes needs --count (the events are spread over the minutes) and is at most 1440"
    );
    anyhow::ensure!(
        args.count > 0 || args.duration_secs > 0 || args.rate > 0.0,
        "as fast as possible with no --count and no --duration-secs would never stop"
    );

    let transport = Arc::new(match args.mode {
        Mode::Kafka => Transport::Kafka {
            producer: ClientConfig::new()
                .set("bootstrap.servers", &args.kafka_brokers)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("compression.type", "lz4")
                .set("linger.ms", "5")
                .create()
                .context("creating the Kafka producer")?,
            topic: args.topic.clone(),
            source: args.source.clone(),
        },
        mode => Transport::Http {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(args.concurrency)
                .timeout(Duration::from_secs(60))
                .build()
                .context("HTTP client")?,
            url: args.url.trim_end_matches('/').to_owned(),
            api_key: args.api_key.clone().context("--api-key / RTCX_API_KEY is required for HTTP modes")?,
            mode,
        },
    });
    if let Transport::Kafka { producer, topic, .. } = transport.as_ref() {
        // Connect before the clock starts, so the first round does not carry broker discovery.
        let (producer, topic) = (producer.clone(), topic.clone());
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(Some(&topic), Duration::from_secs(10)))
            .await
            .context("metadata task")?
            .context("Kafka metadata (is the broker up?)")?;
    }
    let per_unit = if args.mode == Mode::Single { 1 } else { args.batch_size };
    let mut generator = Generator::new(
        Mix {
            negative_share: args.negative_share,
            duplicate_share: args.duplicate_share,
            channel: args.channel,
            ..Mix::default()
        },
        format!("{}-{}", args.source, uuid::Uuid::now_v7().simple()),
    );
    let stats = Arc::new(Mutex::new(Stats {
        latency_us: Histogram::new_with_bounds(1, 120_000_000, 3).context("histogram")?,
        ok_events: 0,
        failed_events: 0,
        by_status: BTreeMap::new(),
    }));
    let bar = if args.no_progress || args.json {
        ProgressBar::hidden()
    } else if args.count > 0 {
        ProgressBar::new(args.count)
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events ({per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let history =
        (args.history_minutes > 0).then(|| History::new(args.history_minutes, args.count, chrono::Utc::now()));
    let permits = Arc::new(Semaphore::new(args.concurrency));
    let mut rng = rand::rng();
    let start = Instant::now();
    let deadline = (args.duration_secs > 0).then(|| start + Duration::from_secs(args.duration_secs));
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if (args.count > 0 && sent >= args.count) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let n = if args.count > 0 { (args.count - sent).min(per_unit as u64) as usize } else { per_unit };
        let scheduled =
            if args.rate > 0.0 { start + Duration::from_secs_f64(sent as f64 / args.rate) } else { Instant::now() };
        // Only a fixed rate waits (the timer has millisecond granularity: sleeping on every
        // unit would cap an as-fast-as-possible run at ~1 000 units/s).
        if scheduled > Instant::now() {
            tokio::select! {
                _ = &mut ctrl_c => break,
                _ = tokio::time::sleep_until(scheduled.into()) => {}
            }
        }
        let permit = tokio::select! {
            _ = &mut ctrl_c => break,
            p = Arc::clone(&permits).acquire_owned() => p.context("semaphore closed")?,
        };
        let mut subs: Vec<FeedbackSubmission> = (0..n).map(|_| generator.next(&mut rng)).collect();
        if let Some(h) = &history {
            for (i, s) in subs.iter_mut().enumerate() {
                s.occurred_at = Some(h.at(sent + i as u64));
            }
        }
        sent += n as u64;
        let transport = Arc::clone(&transport);
        let stats = Arc::clone(&stats);
        let bar = bar.clone();
        tasks.spawn(async move {
            let (ok, status) = transport.send(subs).await;
            // Open loop: measured from the scheduled start, so queueing behind a slow server counts.
            let outcome = Outcome { events: n as u64, ok, status, latency: scheduled.elapsed() };
            if let Ok(mut s) = stats.lock() {
                s.record(&outcome);
            }
            bar.inc(n as u64);
            drop(permit);
        });
        while let Some(done) = tasks.try_join_next() {
            done.context("worker panicked")?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("worker panicked")?;
    }
    let secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let stats = stats.lock().map_err(|_| anyhow::anyhow!("stats lock poisoned"))?;
    println!("{}", summary_line(&args, &stats, secs));
    anyhow::ensure!(stats.failed_events == 0, "{} events were not accepted", stats.failed_events);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::History;

    #[test]
    fn history_spreads_the_events_over_the_minutes_oldest_first() {
        let now = chrono::Utc::now();
        let h = History::new(15, 3000, now);
        assert_eq!(h.at(0), now - chrono::Duration::minutes(15));
        assert_eq!(h.at(1500), now - chrono::Duration::seconds(450));
        assert!(h.at(2999) < now && h.at(2999) > now - chrono::Duration::seconds(1));
        assert!((0..2999).all(|i| h.at(i) <= h.at(i + 1)));
    }
}
