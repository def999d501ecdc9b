//! Similar-feedback search at scale (docs/benchmarks.md "Similar feedback"): what the int8
//! `feedback.embedding` column (and the projection by list) costs per row, and how long
//! `GET /v1/feedback/similar`'s query takes with one client, exact and reading the nearest
//! `--probes` lists of the shipped quantiser, with their recall@10 against the exact int8
//! search and (with the f32 copy kept) against an exact search over the f32 vectors.
//!
//! Rows are real messages (Banking77's training texts, embedded by the processors' model),
//! each stored many times with a small random change of its embedding (so that no two rows
//! are equal), spread over `--days`; the queries are Banking77 test texts, embedded the same
//! way, searched over the last `--range-days`. It writes to its own ClickHouse database
//! (`rtcx_similar_bench`, dropped first; `--reuse` searches what the last run stored).
//! `--own-lists N` learns `--lists` (256) lists from N rows drawn like the stored ones instead
//! of reading the shipped file.
//!
//! `source <(deploy/dev.sh env)`, then
//! `cargo run --release -p rtcx-query-api --example similar_bench -- --rows 1000000 --days 90 --range-days 30 --probes 8,16,32`.

use std::time::Instant;

use chrono::{Duration, Utc};
use rtcx_query_api::embedder::{Embedder, EmbedderArgs};
use rtcx_query_api::feedback::SearchQuery;
use rtcx_query_api::range::TimeRange;
use rtcx_query_api::similar::{ListIndex, Nearest};
use rtcx_schemas::embedding::quantise;
use rtcx_schemas::embedding_lists::EmbeddingLists;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::env;
use uuid::Uuid;

const DATABASE: &str = "rtcx_similar_bench";
const BASE_TEXTS: usize = 2_000;
const CHANNELS: [&str; 7] = ["web", "mobile_app", "email", "chat", "social", "survey", "call_center"];

struct Args {
    rows: usize,
    days: i64,
    range_days: i64,
    queries: usize,
    recall: bool,
    probes: Vec<usize>,
    exact: bool,
    /// Search the rows an earlier run stored (same `--rows`, `--days`, `--own-lists`,
    /// `--lists`) instead of storing them again; no recall against f32.
    reuse: bool,
    /// Learn the lists from this many of the generated rows (as `rtcx-model embedding-lists
    /// --from-clickhouse` does from a deployment's stored feedback) instead of the shipped file.
    own_lists: usize,
    /// How many lists `--own-lists` learns (the shipped file has 256).
    lists: usize,
}

fn args() -> Args {
    let mut a = Args {
        rows: 1_000_000,
        days: 90,
        range_days: 30,
        queries: 50,
        recall: true,
        probes: vec![16],
        exact: true,
        reuse: false,
        own_lists: 0,
        lists: 256,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--probes" {
            let list = it.next().unwrap_or_else(|| panic!("--probes N[,N…]"));
            a.probes = list.split(',').map(|n| n.parse().unwrap_or_else(|_| panic!("--probes N[,N…]"))).collect();
            continue;
        }
        if flag == "--no-exact" {
            a.exact = false;
            continue;
        }
        if flag == "--reuse" {
            a.reuse = true;
            a.recall = false;
            continue;
        }
        let mut value = || it.next().and_then(|v| v.parse::<i64>().ok()).unwrap_or_else(|| panic!("{flag} N"));
        match flag.as_str() {
            "--rows" => a.rows = value() as usize,
            "--days" => a.days = value(),
            "--range-days" => a.range_days = value(),
            "--queries" => a.queries = value() as usize,
            "--own-lists" => a.own_lists = value() as usize,
            "--lists" => a.lists = value() as usize,
            "--no-recall" => a.recall = false,
            other => panic!(
                "unknown argument {other} (--rows, --days, --range-days, --queries, --probes, --own-lists, --lists, --no-recall, --no-exact, --reuse)"
            ),
        }
    }
    a
}

/// A reproducible generator (xorshift), and a normal draw from it (Box-Muller).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        (-2.0 * self.next().ln()).sqrt() * (std::f32::consts::TAU * self.next()).cos()
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn banking77() -> (Vec<String>, Vec<String>) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/topic-intents/banking77/data.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let r = record.expect("a CSV record");
        let text = r.get(0).expect("text").to_owned();
        if r.get(3) == Some("test") { test.push(text) } else { train.push(text) }
    }
    (train, test)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let a = args();
    let args = EmbedderArgs {
        model_dir: Some(env("RTCX_MODEL_DIR").into()),
        heads_dir: std::env::var("RTCX_HEADS_DIR")
            .map(Into::into)
            .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/rtcx-heads")),
        precision: None,
        similar_probes: 16,
    };
    let mut lists: EmbeddingLists =
        args.list_index().expect("read the lists").lists.expect("embedding-lists.bin").as_ref().clone();
    let embedder = tokio::task::spawn_blocking(move || Embedder::load(&args))
        .await
        .expect("join")
        .expect("load the model")
        .expect("RTCX_MODEL_DIR");
    let (train, test) = banking77();
    let started = Instant::now();
    let mut base = Vec::new();
    for t in train.iter().take(BASE_TEXTS) {
        base.push(embedder.embed(t).await.expect("embed"));
    }
    eprintln!("embedded {} base texts in {:.1} s", base.len(), started.elapsed().as_secs_f64());

    let server = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL"));
    if !a.reuse {
        server.query(&format!("DROP DATABASE IF EXISTS {DATABASE} SYNC")).execute().await.expect("drop");
        rtcx_migrations::ClickHouseMigrator::new(server.clone(), DATABASE)
            .expect("migrator")
            .run()
            .await
            .expect("migrate");
    }
    let ch = server.with_database(DATABASE);

    // Rows: base text i % n, its embedding plus noise of norm ~0.35, spread over the days.
    let now = Utc::now();
    let span_ms = a.days * 86_400_000;
    let sigma = 0.35 / (base[0].len() as f32).sqrt();
    if a.own_lists > 0 {
        // A sample drawn like the rows (another seed), and lists learnt from it.
        let mut rng = Rng(0x5EED_1234_ABCD_0002);
        let sample: Vec<Vec<f32>> = (0..a.own_lists)
            .map(|i| unit(base[i % base.len()].iter().map(|x| x + sigma * rng.normal()).collect()))
            .collect();
        let t = Instant::now();
        lists = rtcx_schemas::embedding_lists::train(&sample, a.lists, 20, 7).expect("k-means");
        eprintln!("learnt {} lists from {} rows in {:.1} s", lists.lists(), sample.len(), t.elapsed().as_secs_f64());
    }
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut kept: Vec<(i64, Uuid, Vec<f32>)> = Vec::new();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    const BLOCK: usize = 200_000;
    for start in (0..if a.reuse { 0 } else { a.rows }).step_by(BLOCK) {
        // Draw the block's vectors and times in order (one generator: the data do not depend
        // on the machine), then file them on every core: filing compares each row with every
        // centroid, as the processors do.
        let drawn: Vec<(usize, Vec<f32>, i64)> = (start..(start + BLOCK).min(a.rows))
            .map(|i| {
                let b = i % base.len();
                let v = unit(base[b].iter().map(|x| x + sigma * rng.normal()).collect());
                (i, v, (rng.next() as f64 * span_ms as f64) as i64)
            })
            .collect();
        let filed: Vec<(Vec<i8>, u16)> = std::thread::scope(|s| {
            let lists = &lists;
            let chunks: Vec<_> = drawn
                .chunks(drawn.len().div_ceil(threads))
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|(_, v, _)| {
                                let q = quantise(v);
                                let list = lists.file(&q);
                                (q, list)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            chunks.into_iter().flat_map(|h| h.join().expect("filing thread")).collect()
        });
        let mut insert = ch.insert::<FeedbackRow>("feedback").await.expect("insert");
        for ((i, v, ago), (embedding, embedding_list)) in drawn.into_iter().zip(filed) {
            let b = i % base.len();
            let row = FeedbackRow {
                text: train[b].clone(),
                channel: CHANNELS[i % CHANNELS.len()].into(),
                embedding_list,
                embedding,
                ..FeedbackRow::blank(now - Duration::milliseconds(ago))
            };
            if a.recall && ago < a.range_days * 86_400_000 {
                kept.push((ago, row.id, v));
            }
            insert.write(&row).await.expect("write");
        }
        insert.end().await.expect("end");
    }
    if !a.reuse {
        eprintln!("inserted {} rows in {:.1} s", a.rows, started.elapsed().as_secs_f64());
        ch.query("OPTIMIZE TABLE feedback FINAL").execute().await.expect("optimize");
    }

    let (compressed, uncompressed, rows): (u64, u64, u64) = ch
        .query(
            "SELECT sum(column_data_compressed_bytes), sum(column_data_uncompressed_bytes), sum(rows) \
             FROM system.parts_columns WHERE database = currentDatabase() AND table = 'feedback' AND column = 'embedding' AND active",
        )
        .fetch_one()
        .await
        .expect("column sizes");
    let (all_compressed, in_range): (u64, u64) = ch
        .query(
            "SELECT assumeNotNull((SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = currentDatabase() AND table = 'feedback' AND active)), \
             countIf(occurred_at >= now64(3) - toIntervalDay(?)) FROM feedback",
        )
        .bind(a.range_days)
        .fetch_one()
        .await
        .expect("table size");
    let (largest, median): (u64, f64) = ch
        .query(
            "SELECT max(c), median(c) FROM (SELECT embedding_list, count() AS c FROM feedback GROUP BY embedding_list)",
        )
        .fetch_one()
        .await
        .expect("list sizes");
    println!(
        "rows per list: largest {largest} ({:.1} % of the rows), median {median:.0} ({} lists, {})",
        100.0 * largest as f64 / a.rows as f64,
        lists.lists(),
        if a.own_lists > 0 { "learnt from the stored rows" } else { "the shipped file" }
    );
    let projection: u64 = ch
        .query(
            "SELECT sum(data_compressed_bytes) FROM system.projection_parts WHERE database = currentDatabase() \
             AND table = 'feedback' AND name = 'by_embedding_list' AND active",
        )
        .fetch_one()
        .await
        .expect("projection size");
    println!(
        "projection by list: {:.1} B/row compressed (embedding, list, id, time and the filter columns again)",
        projection as f64 / rows as f64
    );
    println!(
        "embedding column: {:.1} B/row compressed ({:.1} B/row before compression), {:.1} % of the table's {:.1} B/row",
        compressed as f64 / rows as f64,
        uncompressed as f64 / rows as f64,
        100.0 * compressed as f64 / all_compressed as f64,
        all_compressed as f64 / rows as f64
    );

    // Queries: one client, one at a time, over the last range_days; the exact search and each
    // `--probes` setting in turn, on the same query. The lists to read are chosen as the
    // endpoint chooses them.
    let lists = std::sync::Arc::new(lists);
    let indexes: Vec<ListIndex> =
        a.probes.iter().map(|&probes| ListIndex { lists: Some(std::sync::Arc::clone(&lists)), probes }).collect();
    let mut exact_ms = Vec::new();
    let mut list_ms: Vec<Vec<f64>> = vec![Vec::new(); a.probes.len()];
    let mut list_recall_int8: Vec<Vec<f64>> = vec![Vec::new(); a.probes.len()];
    let mut list_recall_f32: Vec<Vec<f64>> = vec![Vec::new(); a.probes.len()];
    let (mut embed_ms, mut exact_recall_f32) = (Vec::new(), Vec::new());
    let search = |lists: Option<Vec<u16>>, q: Vec<i8>, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>| {
        let ch = ch.clone();
        async move {
            let t = Instant::now();
            let filters = SearchQuery::default();
            let found: Vec<Uuid> = Nearest {
                query: &q,
                exclude: None,
                search: &filters,
                range: TimeRange { from, to },
                min_similarity: None,
                lists: lists.as_deref(),
                limit: 10,
            }
            .fetch(&ch)
            .await
            .expect("search")
            .into_iter()
            .map(|n| n.id)
            .collect();
            (found, t.elapsed().as_secs_f64() * 1e3)
        }
    };
    let overlap = |found: &[Uuid], truth: &[Uuid]| found.iter().filter(|id| truth.contains(id)).count() as f64 / 10.0;
    for text in test.iter().take(a.queries) {
        let t0 = Instant::now();
        let qf = embedder.embed(text).await.expect("embed");
        embed_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let q = quantise(&qf);
        let to = Utc::now();
        let from = to - Duration::days(a.range_days);
        let f32_truth: Option<Vec<Uuid>> = a.recall.then(|| {
            let cutoff = (now - from).num_milliseconds();
            let mut exact: Vec<(f32, Uuid)> = kept
                .iter()
                .filter(|(ago, _, _)| *ago < cutoff)
                .map(|(_, id, v)| (qf.iter().zip(v).map(|(x, y)| x * y).sum(), *id))
                .collect();
            exact.sort_by(|x, y| y.0.total_cmp(&x.0));
            exact.iter().take(10).map(|e| e.1).collect()
        });
        let int8_truth = if a.exact {
            let (found, ms) = search(None, q.clone(), from, to).await;
            exact_ms.push(ms);
            if let Some(t) = &f32_truth {
                exact_recall_f32.push(overlap(&found, t));
            }
            Some(found)
        } else {
            None
        };
        for (i, index) in indexes.iter().enumerate() {
            let probes = index.lists_for(&q, &SearchQuery::default(), false).expect("lists to read");
            let (found, ms) = search(Some(probes), q.clone(), from, to).await;
            list_ms[i].push(ms);
            if let Some(t) = &int8_truth {
                list_recall_int8[i].push(overlap(&found, t));
            }
            if let Some(t) = &f32_truth {
                list_recall_f32[i].push(overlap(&found, t));
            }
        }
    }
    let mean = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
    let summary = |ms: &mut Vec<f64>| {
        ms.sort_by(f64::total_cmp);
        format!(
            "p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            percentile(ms, 0.5),
            percentile(ms, 0.95),
            ms.last().copied().unwrap_or_default()
        )
    };
    embed_ms.sort_by(f64::total_cmp);
    println!(
        "{} rows over {} days, {} in the last {} days, {} lists; embedding the text p50 {:.1} ms",
        a.rows,
        a.days,
        in_range,
        a.range_days,
        lists.lists(),
        percentile(&embed_ms, 0.5)
    );
    if a.exact {
        println!("exact search: {}; recall@10 against f32: {:.3}", summary(&mut exact_ms), mean(&exact_recall_f32));
    }
    for (i, n) in a.probes.iter().enumerate() {
        println!(
            "{n} lists: {}; recall@10 against the exact int8 search {:.3}, against exact f32 {:.3} ({} queries)",
            summary(&mut list_ms[i]),
            mean(&list_recall_int8[i]),
            mean(&list_recall_f32[i]),
            list_ms[i].len()
        );
    }
}
