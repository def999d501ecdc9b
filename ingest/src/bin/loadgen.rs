//! `rtcx-loadgen`: synthetic customer feedback for demos and load tests.
//!
//! This first version produces [`FeedbackEvent`]s straight to the raw Kafka topic (the
//! documented path for integrations that bypass ingest), at a fixed rate or as fast as
//! possible, awaits every delivery (acks=all) and prints throughput and delivery-latency
//! percentiles.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Parser;
use rand::Rng as _;
use rand::seq::IndexedRandom as _;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rtcx_schemas::{Channel, FeedbackEvent, topics};

/// Sends synthetic customer feedback to rtcx.
#[derive(Debug, Parser)]
#[command(name = "rtcx-loadgen", version)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "RTCX_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    kafka_brokers: String,
    /// Topic to produce to.
    #[arg(long, default_value = topics::FEEDBACK_RAW)]
    topic: String,
    /// Events per second; 0 sends as fast as possible.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Number of events to send; 0 runs until interrupted.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Share of negative texts, in [0, 1].
    #[arg(long, default_value_t = 0.3)]
    negative_share: f64,
    /// Share of events re-sent with the same idempotency key (duplicates), in [0, 1].
    #[arg(long, default_value_t = 0.02)]
    duplicate_share: f64,
    /// Source name stamped on the events.
    #[arg(long, default_value = "loadgen")]
    source: String,
}

const POSITIVE: &[&str] = &[
    "Great service, the {p} arrived a day early and works perfectly.",
    "I love the new {p}, setup took two minutes.",
    "Thanks to the support agent who fixed my {p} issue so quickly!",
    "Really happy with the {p}, worth every penny.",
];
const NEGATIVE: &[&str] = &[
    "My {p} arrived broken and nobody answers my emails.",
    "Third time the {p} delivery is late. I want a refund.",
    "The app crashes every time I open the {p} page. Terrible.",
    "I was charged twice for the {p} and support keeps me on hold for an hour.",
    "Cancel my subscription, the {p} never worked.",
];
const NEUTRAL: &[&str] = &[
    "How do I change the delivery address for my {p} order?",
    "Is the {p} available in blue?",
    "I received the {p} today.",
    "What are your opening hours for {p} returns?",
];
const PRODUCTS: &[&str] = &["router", "headphones", "subscription", "laptop", "smart watch", "invoice", "parcel"];
const SEGMENTS: &[&str] = &["consumer", "smb", "enterprise"];
const STAGES: &[&str] = &["onboarding", "purchase", "delivery", "support", "renewal"];

fn synthetic_event(rng: &mut impl rand::Rng, args: &Args, seq: u64) -> FeedbackEvent {
    let p: f64 = rng.random();
    let (templates, rating) = if p < args.negative_share {
        (NEGATIVE, rng.random_range(1..=2))
    } else if p < args.negative_share + (1.0 - args.negative_share) / 2.0 {
        (POSITIVE, rng.random_range(4..=5))
    } else {
        (NEUTRAL, 3)
    };
    let template = templates.choose(rng).copied().unwrap_or("Hello {p}");
    let product = PRODUCTS.choose(rng).copied().unwrap_or("product");
    let channel = Channel::ALL[rng.random_range(0..Channel::ALL.len())];
    let now = Utc::now();
    let key = format!("{}-{seq}", args.source);
    FeedbackEvent {
        id: FeedbackEvent::derive_id(&args.source, Some(&key), None),
        received_at: now,
        occurred_at: now - chrono::Duration::milliseconds(rng.random_range(0..60_000)),
        channel,
        text: template.replace("{p}", product),
        rating: (channel != Channel::Survey).then_some(rating),
        nps: (channel == Channel::Survey).then(|| rng.random_range(0..=10)),
        csat: (channel == Channel::Chat).then(|| rng.random_range(1..=5)),
        customer_id: Some(format!("cust-{}", rng.random_range(0..5_000))),
        segment: SEGMENTS.choose(rng).map(|s| s.to_string()),
        journey_stage: STAGES.choose(rng).map(|s| s.to_string()),
        language: Some("en".into()),
        metadata: Default::default(),
        source: args.source.clone(),
        external_id: None,
        idempotency_key: Some(key),
        anonymous: false,
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((0.0..=1.0).contains(&args.negative_share), "--negative-share must be in [0, 1]");
    anyhow::ensure!((0.0..=1.0).contains(&args.duplicate_share), "--duplicate-share must be in [0, 1]");
    anyhow::ensure!(args.rate >= 0.0, "--rate must be >= 0");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.kafka_brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .context("creating Kafka producer")?;

    let mut rng = rand::rng();
    let interval = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    let start = Instant::now();
    let mut inflight = tokio::task::JoinSet::new();
    let mut latencies = Vec::new();
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut last: Option<FeedbackEvent> = None;
    let mut seq = 0u64;
    while args.count == 0 || seq < args.count {
        let ev = match &last {
            Some(prev) if rng.random_bool(args.duplicate_share) => prev.clone(),
            _ => synthetic_event(&mut rng, &args, seq),
        };
        seq += 1;
        let payload = serde_json::to_vec(&ev)?;
        let key = ev.kafka_key();
        let producer = producer.clone();
        let topic = args.topic.clone();
        last = Some(ev);
        inflight.spawn(async move {
            let t0 = Instant::now();
            let res =
                producer.send(FutureRecord::to(&topic).key(&key).payload(&payload), Duration::from_secs(30)).await;
            (res.is_ok(), t0.elapsed())
        });
        while inflight.len() > 10_000 {
            if let Some(Ok((ok, d))) = inflight.join_next().await {
                if ok {
                    sent += 1
                } else {
                    failed += 1
                }
                latencies.push(d);
            }
        }
        if let Some(iv) = interval {
            let due = start + iv.mul_f64(seq as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        if seq.is_multiple_of(1000) {
            eprintln!("rtcx-loadgen: {seq} events queued ({:.0}/s)", seq as f64 / start.elapsed().as_secs_f64());
        }
    }
    while let Some(r) = inflight.join_next().await {
        if let Ok((ok, d)) = r {
            if ok {
                sent += 1
            } else {
                failed += 1
            }
            latencies.push(d);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "rtcx-loadgen: {sent} delivered, {failed} failed in {secs:.2} s = {:.0} events/s; delivery latency p50 {:?} p99 {:?} max {:?}",
        sent as f64 / secs.max(1e-9),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    anyhow::ensure!(failed == 0, "{failed} events were not delivered");
    Ok(())
}
