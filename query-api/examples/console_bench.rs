//! The web console's figures on a running stack (docs/benchmarks.md "Web console"), in a
//! headless chromium: the first meaningful paint of the overview (sign-in → tiles, and a
//! reload with the session resumed), the assets' transfer size, and the live feed left open
//! for `--minutes` at the stack's traffic (JavaScript heap after a forced GC at the start and
//! every minute, items kept, and the main thread's responsiveness: the lateness of a 100 ms
//! timer).
//!
//! `source <(deploy/dev.sh env)` after `deploy/dev.sh up`, then
//! `cargo run -p rtcx-query-api --example console_bench -- --minutes 10`.

use std::time::Duration;

use rtcx_service_kit::browser::Browser;
use rtcx_service_kit::testing::env;
use serde_json::Value;

struct Args {
    minutes: u64,
    email: String,
    password: String,
    url: String,
}

fn args() -> Args {
    let mut minutes = 10;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => minutes = it.next().and_then(|m| m.parse().ok()).expect("--minutes N"),
            other => panic!("unknown argument {other} (only --minutes N)"),
        }
    }
    let state = std::env::var("RTCX_STATE_DIR").unwrap_or_else(|_| "/var/lib/rtcx".into());
    let password = std::fs::read_to_string(format!("{state}/demo-admin-password"))
        .expect("the demo admin's password (deploy/dev.sh up writes it)")
        .trim()
        .to_owned();
    Args {
        minutes,
        email: std::env::var("RTCX_DEMO_ADMIN_EMAIL").unwrap_or_else(|_| "admin@rtcx.demo".into()),
        password,
        url: env("RTCX_CONSOLE_URL"),
    }
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let a = args();
    let shots = std::env::temp_dir().join("rtcx-console-bench");
    let b = Browser::start(1280, 800, shots).await;

    // Cold: the first visit, every file over the wire.
    b.sign_in(&a.url, &a.email, &a.password).await;
    b.until("the overview", "performance.getEntriesByName('rtcx:overview').length > 0").await;
    let transfer = b
        .js("const r = performance.getEntriesByType('resource').filter(e => e.name.includes('/app/'));
             const n = performance.getEntriesByType('navigation')[0];
             return {files: r.length + 1, transfer: r.reduce((s, e) => s + e.transferSize, n.transferSize),
                     decoded: r.reduce((s, e) => s + e.decodedBodySize, n.decodedBodySize)};")
        .await;
    let cold = b.js("return performance.getEntriesByName('rtcx:overview')[0].startTime;").await;

    // Reloads: the session resumes (refresh token), files revalidate (304).
    let mut reloads = Vec::new();
    for _ in 0..5 {
        b.client.refresh().await.expect("reload");
        b.until("the overview", "performance.getEntriesByName('rtcx:overview').length > 0").await;
        let t = b
            .js("return {fmp: performance.getEntriesByName('rtcx:overview')[0].startTime,
                         fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime};")
            .await;
        reloads.push((ms(&t["fmp"]), ms(&t["fcp"])));
    }
    reloads.sort_by(|x, y| x.0.total_cmp(&y.0));

    // The live feed, open for a while.
    b.client.goto(&format!("{}/app/#/live", a.url.trim_end_matches('/'))).await.expect("live");
    b.until("the live connection", "document.getElementById('live-state').dataset.state === 'live'").await;
    b.js("window.__lag = []; let last = performance.now();
          setInterval(() => { const now = performance.now(); window.__lag.push(now - last - 100); last = now; }, 100);
          return null;")
        .await;
    let sample = async |b: &Browser| {
        b.js("gc(); const lag = window.__lag.splice(0).sort((x, y) => x - y);
              const q = (p) => lag.length ? lag[Math.min(lag.length - 1, Math.floor(p * lag.length))] : null;
              return {heap: performance.memory.usedJSHeapSize, items: document.querySelectorAll('[data-feed=feedback] li').length,
                      lag_p50: q(0.5), lag_p99: q(0.99), lag_max: lag.length ? lag[lag.length - 1] : null,
                      nodes: document.getElementsByTagName('*').length};")
            .await
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut samples = vec![(0, sample(&b).await)];
    for m in 1..=a.minutes {
        tokio::time::sleep(Duration::from_secs(60)).await;
        samples.push((m, sample(&b).await));
    }
    b.close().await;

    println!("| measurement | value |\n|---|---|");
    println!("| first meaningful paint, sign-in → overview tiles (cold, every file fetched) | {:.0} ms |", ms(&cold));
    let fmp: Vec<String> = reloads.iter().map(|r| format!("{:.0}", r.0)).collect();
    println!("| first meaningful paint after a reload (session resumed), 5 runs, sorted | {} ms |", fmp.join(" / "));
    let fcp: Vec<String> = reloads.iter().map(|r| format!("{:.0}", r.1)).collect();
    println!("| first contentful paint after a reload, same runs | {} ms |", fcp.join(" / "));
    println!(
        "| console files: count, bytes transferred on the first visit (decoded) | {} files, {} B ({} B) |",
        transfer["files"], transfer["transfer"], transfer["decoded"]
    );
    println!(
        "\n| minute on #/live | JS heap after GC | feed items kept | DOM nodes | timer lateness p50 / p99 / max |"
    );
    println!("|---|---|---|---|---|");
    for (m, s) in &samples {
        println!(
            "| {m} | {:.2} MB | {} | {} | {:.0} / {:.0} / {:.0} ms |",
            ms(&s["heap"]) / 1e6,
            s["items"],
            s["nodes"],
            ms(&s["lag_p50"]),
            ms(&s["lag_p99"]),
            ms(&s["lag_max"])
        );
    }
}
