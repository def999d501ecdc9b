//! `rtcx-query-api seed` refuses a database that holds real feedback unless forced.

mod common;

use std::process::Command;

use rtcx_service_kit::testing::env;

fn seed(database: &str, force: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtcx-query-api"));
    cmd.args(["seed", "--rows", "50", "--days", "1"]).env("RTCX_CLICKHOUSE_DATABASE", database);
    if force {
        cmd.arg("--force");
    }
    cmd.output().expect("run rtcx-query-api seed")
}

async fn count(database: &str, filter: &str) -> u64 {
    let ch = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL")).with_database(database);
    ch.query(&format!("SELECT count() FROM feedback WHERE {filter}")).fetch_one::<u64>().await.expect("count")
}

#[tokio::test]
async fn seeding_refuses_real_feedback_unless_forced() {
    let (_api, database) = common::start_with_clickhouse().await;
    // An empty database, or one holding only seeded rows, is seeded.
    for _ in 0..2 {
        let out = seed(&database, false);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(count(&database, "source = 'seed'").await, 100);

    let ch = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL")).with_database(&database);
    ch.query("INSERT INTO feedback (id, source, channel, text) VALUES (generateUUIDv4(), 'crm', 'email', 'real')")
        .execute()
        .await
        .expect("a real row");
    let out = seed(&database, false);
    assert!(!out.status.success(), "must refuse");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 real (not seeded) feedback rows") && err.contains("--force"), "{err}");
    assert_eq!(count(&database, "source = 'seed'").await, 100, "nothing written");

    let out = seed(&database, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&database, "source = 'seed'").await, 150);
    common::drop_clickhouse(&database).await;
}
