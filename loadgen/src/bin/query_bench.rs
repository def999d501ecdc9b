//! `rtcx-query-bench`: latency of the dashboard endpoints through a running query API (one
//! client, then `--concurrency` clients), and of the same questions asked of a plain
//! Postgres table with indexes (the seed's approach), for docs/benchmarks.md. Driven by
//! `deploy/bench/query.sh`.

use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "rtcx-query-bench", version)]
struct Args {
    /// Base URL of the query API.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    url: String,
    /// Account to log in with.
    #[arg(long, env = "RTCX_BENCH_EMAIL")]
    email: String,
    #[arg(long, env = "RTCX_BENCH_PASSWORD", hide_env_values = true)]
    password: String,
    /// Requests per endpoint and window (one client).
    #[arg(long, default_value_t = 100)]
    requests: usize,
    /// Clients of the concurrent run.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Postgres with the `bench_feedback` table (skips the comparison when absent).
    #[arg(long, env = "RTCX_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Runs per Postgres question.
    #[arg(long, default_value_t = 5)]
    postgres_runs: usize,
}

const ENDPOINTS: [&str; 8] = [
    "dashboard/overview",
    "dashboard/sentiment-trend?interval=day&",
    "dashboard/channels",
    "dashboard/segments",
    "dashboard/journey-stages",
    "dashboard/emotions",
    "dashboard/drivers",
    "topics/trending",
];

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn url(base: &str, endpoint: &str, window: &str) -> String {
    if endpoint.ends_with('&') {
        format!("{base}/v1/{endpoint}range={window}")
    } else {
        format!("{base}/v1/{endpoint}?range={window}")
    }
}

async fn timed(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    let r = http.get(url).bearer_auth(token).send().await?;
    anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
    r.bytes().await?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/v1/auth/login", a.url))
        .json(&serde_json::json!({"email": a.email, "password": a.password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("login failed")?.to_owned();

    println!("| endpoint | window | p50 ms | p95 ms (1 client) | p95 ms ({} clients) |", a.concurrency);
    println!("|---|---|---|---|---|");
    for window in ["30d", "90d"] {
        for e in ENDPOINTS {
            let u = url(&a.url, e, window);
            timed(&http, &u, &token).await?; // warm-up
            let mut one = Vec::with_capacity(a.requests);
            for _ in 0..a.requests {
                one.push(timed(&http, &u, &token).await?);
            }
            let per_client = a.requests.div_ceil(a.concurrency);
            let clients = (0..a.concurrency).map(|_| {
                let (http, u, token) = (http.clone(), u.clone(), token.clone());
                tokio::spawn(async move {
                    let mut v = Vec::new();
                    for _ in 0..per_client {
                        v.push(timed(&http, &u, &token).await?);
                    }
                    Ok::<_, anyhow::Error>(v)
                })
            });
            let mut many = Vec::new();
            for c in futures::future::join_all(clients).await {
                many.extend(c??);
            }
            let name = e.trim_end_matches('&').split('?').next().unwrap_or(e);
            println!(
                "| {name} | {window} | {:.1} | {:.1} | {:.1} |",
                percentile(&mut one.clone(), 0.5),
                percentile(&mut one, 0.95),
                percentile(&mut many, 0.95)
            );
        }
    }

    let Some(pg_url) = a.postgres_url else { return Ok(()) };
    let pg = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&pg_url).await?;
    let questions = [
        (
            "overview (volume, sentiment mix, average, NPS)",
            "SELECT count(*), count(*) FILTER (WHERE sentiment_label = 'negative'), \
             count(*) FILTER (WHERE sentiment_label = 'positive'), avg(sentiment_score), \
             count(nps), count(*) FILTER (WHERE nps >= 9), count(*) FILTER (WHERE nps <= 6) \
             FROM bench_feedback WHERE occurred_at >= now() - $1::interval",
        ),
        (
            "channels",
            "SELECT channel, count(*), avg(sentiment_score), count(*) FILTER (WHERE sentiment_label = 'negative') \
             FROM bench_feedback WHERE occurred_at >= now() - $1::interval GROUP BY channel",
        ),
        (
            "sentiment trend by day",
            "SELECT date_trunc('day', occurred_at), count(*), avg(sentiment_score) FROM bench_feedback \
             WHERE occurred_at >= now() - $1::interval GROUP BY 1 ORDER BY 1",
        ),
    ];
    println!("\n| question (Postgres, indexed table) | window | p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    for window in ["30 days", "90 days"] {
        for (name, sql) in questions {
            let mut v = Vec::new();
            for _ in 0..a.postgres_runs.max(1) {
                let t = Instant::now();
                sqlx::query(sql).bind(window).fetch_all(&pg).await?;
                v.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            println!(
                "| {name} | {window} | {:.1} | {:.1} |",
                percentile(&mut v.clone(), 0.5),
                percentile(&mut v, 0.95)
            );
        }
    }
    Ok(())
}
