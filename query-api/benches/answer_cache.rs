//! `cargo bench -p rtcx-query-api --bench answer_cache`: the query API's answer cache
//! (`rtcx_query_api::cache`, single-flight with a TTL) against `moka`'s future cache
//! (`try_get_with`, also single-flight), per lookup of a ~2 KB dashboard answer: hits on one
//! hot key and on 1 000 keys, from one and from two tasks. Figures in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtcx_query_api::cache::AnswerCache;

/// Lookups per measurement; `cargo test` (no `--bench` argument) runs a hundredth, as a smoke
/// test.
fn lookups() -> usize {
    if std::env::args().any(|a| a == "--bench") { 400_000 } else { 4_000 }
}

fn answer() -> serde_json::Value {
    let points: Vec<serde_json::Value> = (0..48)
        .map(|i| serde_json::json!({"bucket": format!("2026-11-30T{:02}:00:00Z", i % 24), "count": i * 17}))
        .collect();
    serde_json::json!({"range": "24h", "points": points})
}

async fn timed<F, Fut>(tasks: usize, keys: usize, lookup: F) -> f64
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = serde_json::Value> + Send,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let lookup = lookup.clone();
            tokio::spawn(async move {
                let mut size = 0;
                for i in 0..lookups() / tasks {
                    size += lookup(format!("/v1/dashboard/overview?range=24h&k={}", (i * 7 + t) % keys))
                        .await
                        .as_object()
                        .map_or(0, |o| o.len());
                }
                size
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap_or(0);
    }
    assert!(total > 0, "answers came back");
    started.elapsed().as_nanos() as f64 / lookups() as f64
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let value = answer();
        let ours = Arc::new(AnswerCache::new(Duration::from_secs(3600)));
        let theirs: moka::future::Cache<String, serde_json::Value> =
            moka::future::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(3600)).build();
        println!("| keys | tasks | rtcx AnswerCache (ns/lookup) | moka try_get_with (ns/lookup) |");
        println!("|---|---|---|---|");
        for keys in [1usize, 1_000] {
            for tasks in [1, 2] {
                let (c, v) = (Arc::clone(&ours), value.clone());
                let a = timed(tasks, keys, move |k| {
                    let (c, v) = (Arc::clone(&c), v.clone());
                    async move { c.get_or(k, async move { Ok::<_, ()>(v) }).await.unwrap_or_default() }
                })
                .await;
                let (c, v) = (theirs.clone(), value.clone());
                let b = timed(tasks, keys, move |k| {
                    let (c, v) = (c.clone(), v.clone());
                    async move { c.try_get_with(k, async move { Ok::<_, ()>(v) }).await.unwrap_or_default() }
                })
                .await;
                println!("| {keys} | {tasks} | {a:.0} | {b:.0} |");
            }
        }
    });
}
