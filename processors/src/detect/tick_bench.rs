//! `rtcx-processors detect tick-bench`: what a live evaluator tick costs with many series,
//! ClickHouse included. A throw-away ClickHouse database gets the minute rollup tables and
//! synthetic rows — `--topics` topics at rates from 0.1 to 1 000 events per window (log-uniform,
//! a daily cycle, noise), seven channels and their sum — for `--days` of history and `--ticks`
//! more windows. Timed: the cold start (reading the whole history and building the run: what a
//! take-over costs) and each tick (reading one new window and extending the run, the alerts it
//! raised included). The database is dropped at the end. Prints a Markdown table.

use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rtcx_detect::detectors::Sensitivity;
use rtcx_detect::history::load;
use rtcx_detect::live::CatalogueRun;
use rtcx_detect::settings::ConfiguredRule;

#[derive(Debug, clap::Args)]
pub struct TickBenchArgs {
    /// Topic series (besides the seven channels and all feedback together).
    #[arg(long, default_value_t = 10_000)]
    pub topics: u64,
    /// Days of 5-minute windows of history the baselines see.
    #[arg(long, default_value_t = 8)]
    pub days: i64,
    /// Ticks timed, one new window each.
    #[arg(long, default_value_t = 12)]
    pub ticks: usize,
    #[command(flatten)]
    pub clickhouse: rtcx_service_kit::ClickHouseArgs,
}

const WINDOW: i64 = 300;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

pub fn run(a: TickBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=35).contains(&a.days), "--days must be 1..=35");
    anyhow::ensure!(a.ticks >= 1, "--ticks must be at least 1");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(bench(a))
}

async fn bench(a: TickBenchArgs) -> anyhow::Result<()> {
    let server = a.clickhouse.server_client();
    let source = &a.clickhouse.clickhouse_database;
    let db = format!("rtcx_tickbench_{}", Utc::now().timestamp());
    let now = Utc::now().timestamp();
    let end = now - now.rem_euclid(WINDOW);
    let windows = a.days * 86_400 / WINDOW + a.ticks as i64;
    let start = end - windows * WINDOW;
    server.query(&format!("CREATE DATABASE {db}")).execute().await.context("creating the bench database")?;
    let result = async {
        for table in ["feedback_minute", "feedback_topic_minute"] {
            server.query(&format!("CREATE TABLE {db}.{table} AS {source}.{table}")).execute().await?;
        }
        let filled = Instant::now();
        // One row per (window start, topic): a rate from 0.1 to 1 000 per window, a daily cycle, noise.
        let rate = "pow(10, (cityHash64(t) % 10000) / 10000 * 4 - 1)";
        let cycle = "(1 + 0.5 * sin(2 * pi() * ((w * 300) % 86400) / 86400))";
        server
            .query(&format!(
                "INSERT INTO {db}.feedback_topic_minute (minute, topic_id, channel, feedback_count, negative_count, sentiment_score_sum)
                 SELECT toDateTime({start} + w * 300, 'UTC'), toUUID(concat('00000000-0000-4000-8000-', leftPad(hex(t), 12, '0'))),
                        'web', c, intDiv(c, 4), c * 0.1
                 FROM (SELECT intDiv(number, {topics}) AS w, number % {topics} AS t,
                              toUInt64(greatest(0, round({rate} * {cycle} + randNormal(0, 1) * sqrt({rate})))) AS c
                       FROM numbers({rows}))
                 WHERE c > 0",
                topics = a.topics,
                rows = a.topics as i64 * windows,
            ))
            .execute()
            .await?;
        server
            .query(&format!(
                "INSERT INTO {db}.feedback_minute (minute, channel, segment, feedback_count, negative_count, positive_count,
                                                  sentiment_score_sum, sentiment_score_sq_sum)
                 SELECT toDateTime({start} + w * 300, 'UTC'), ['web', 'mobile_app', 'email', 'chat', 'social', 'survey', 'call_center'][c + 1],
                        '', n, intDiv(n, 4), intDiv(n, 2), n * 0.1, n * 0.3
                 FROM (SELECT intDiv(number, 7) AS w, number % 7 AS c,
                              toUInt64(greatest(0, round(200 * (1 + 0.5 * sin(2 * pi() * ((w * 300) % 86400) / 86400)) + randNormal(0, 14)))) AS n
                       FROM numbers({}))",
                7 * windows
            ))
            .execute()
            .await?;
        let rows: u64 = server.query(&format!("SELECT count() FROM {db}.feedback_topic_minute")).fetch_one().await?;
        eprintln!("filled {rows} topic rows in {:.1} s", filled.elapsed().as_secs_f64());
        let ch = server.clone().with_database(&db);
        let rules = ConfiguredRule::catalogue(Sensitivity::Medium);
        let at = |w: i64| DateTime::<Utc>::from_timestamp(start + w * WINDOW, 0).unwrap_or_default();
        let history_end = windows - a.ticks as i64;

        let t = Instant::now();
        let history = load(&ch, at(0), at(history_end), WINDOW as u64).await?;
        let cold_read = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut run = CatalogueRun::new(&rules, history.start, WINDOW as u64, (a.days * 86_400 / WINDOW) as usize);
        run.extend(&history)?;
        let cold_cpu = t.elapsed().as_secs_f64();
        let series = run.series();
        drop(history);

        let (mut reads, mut cpus, mut totals) = (Vec::new(), Vec::new(), Vec::new());
        let mut alerts = 0;
        for k in 0..a.ticks as i64 {
            let t = Instant::now();
            let new = load(&ch, at(history_end + k), at(history_end + k + 1), WINDOW as u64).await?;
            let read = t.elapsed().as_secs_f64();
            let t2 = Instant::now();
            run.extend(&new)?;
            alerts += run.alerts(run.len() - 1).len();
            let cpu = t2.elapsed().as_secs_f64();
            reads.push(read);
            cpus.push(cpu);
            totals.push(read + cpu);
        }
        for v in [&mut reads, &mut cpus, &mut totals] {
            v.sort_by(f64::total_cmp);
        }
        let ms = |s: f64| format!("{:.0}", s * 1000.0);
        println!(
            "{} series ({} topics, 7 channels, all feedback), {} days of 5-minute history, {} rules, {} threads \
             judging series\n",
            series,
            a.topics,
            a.days,
            rules.len(),
            rtcx_detect::backtest::judging_threads()
        );
        println!("| phase | ClickHouse read (ms) | detectors (ms) | total (ms) |");
        println!("|---|---|---|---|");
        println!(
            "| cold start / take-over ({} windows) | {} | {} | {} |",
            history_end,
            ms(cold_read),
            ms(cold_cpu),
            ms(cold_read + cold_cpu)
        );
        println!(
            "| tick (one new window), median of {} | {} | {} | {} |",
            a.ticks,
            ms(percentile(&reads, 0.5)),
            ms(percentile(&cpus, 0.5)),
            ms(percentile(&totals, 0.5))
        );
        println!(
            "| tick, slowest | {} | {} | {} |",
            ms(percentile(&reads, 1.0)),
            ms(percentile(&cpus, 1.0)),
            ms(percentile(&totals, 1.0))
        );
        eprintln!("alerts moving in the timed ticks: {alerts}");
        anyhow::Ok(())
    }
    .await;
    let _ = server.query(&format!("DROP DATABASE IF EXISTS {db} SYNC")).execute().await;
    result
}
