//! `rtcx-model embedding-lists --from-clickhouse --refile` on a real ClickHouse: lists learnt
//! from the stored embeddings, written as a file that reads back, and every stored row filed
//! again into the list `EmbeddingLists::file` gives it (the search's projection follows).

mod common;

use std::process::Command;

use chrono::{Duration, Utc};
use common::{TempClickHouse, workspace_bin};
use rtcx_schemas::embedding::quantise;
use rtcx_schemas::embedding_lists::EmbeddingLists;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::env;

/// A point near direction `group` of 16 values, with a small reproducible wobble: the groups
/// are far apart (cosine < 0.1), so k-means can only find them.
fn point(group: usize, i: u64) -> Vec<f32> {
    (0..16).map(|d| if d == group { 1.0 } else { ((i * 13 + d as u64 * 5) % 17) as f32 / 400.0 }).collect()
}

#[tokio::test]
async fn lists_learnt_from_stored_feedback_refile_every_row() {
    let db = TempClickHouse::new("lists").await;
    let ch = db.client();
    // Six groups of 50 rows, stored unfiled (as before any lists), one row without embedding.
    let now = Utc::now();
    let mut insert = ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for g in 0..6 {
        for i in 0..50u64 {
            let row = FeedbackRow {
                embedding: quantise(&point(g, i)),
                ..FeedbackRow::blank(now - Duration::minutes((g * 50) as i64 + i as i64))
            };
            insert.write(&row).await.expect("write");
        }
    }
    insert.write(&FeedbackRow::blank(now)).await.expect("write");
    insert.end().await.expect("end");

    let dir = std::env::temp_dir().join(format!("rtcx-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("embedding-lists.bin");
    let run = Command::new(workspace_bin("rtcx-model"))
        .env("RTCX_CLICKHOUSE_URL", env("RTCX_CLICKHOUSE_URL"))
        .env("RTCX_CLICKHOUSE_DATABASE", &db.name)
        .env("RTCX_CLICKHOUSE_USER", "default")
        .env("RTCX_CLICKHOUSE_PASSWORD", "")
        .env("RTCX_MODEL_DIR", env("RTCX_MODEL_DIR"))
        .args(["embedding-lists", "--from-clickhouse", "--refile", "--lists", "6", "--texts", "1000", "--out"])
        .arg(&out)
        .output()
        .expect("run embedding-lists");
    assert!(run.status.success(), "{}\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    let lists = EmbeddingLists::from_bytes(&std::fs::read(&out).expect("the file")).expect("a lists file");
    assert_eq!((lists.lists(), lists.dim()), (6, 16));

    // Every row with an embedding is in the list the Rust quantiser gives it; each group has a
    // list of its own; the row without embedding stays unfiled.
    let rows: Vec<(Vec<i8>, u16)> =
        ch.query("SELECT embedding, embedding_list FROM feedback").fetch_all().await.expect("rows");
    assert_eq!(rows.len(), 301);
    let mut by_list = std::collections::HashMap::new();
    for (embedding, list) in &rows {
        if embedding.is_empty() {
            assert_eq!(*list, 0);
            continue;
        }
        assert_eq!(*list, lists.file(embedding));
        *by_list.entry(*list).or_insert(0) += 1;
    }
    let mut sizes: Vec<i32> = by_list.into_values().collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![50; 6], "one list per group");
    // The projection the search reads was rebuilt with the new lists.
    let in_projection: Vec<(u16, u64)> = ch
        .query(&format!(
            "SELECT embedding_list, count() FROM mergeTreeProjection({}, feedback, by_embedding_list) \
             GROUP BY embedding_list ORDER BY embedding_list",
            db.name
        ))
        .fetch_all()
        .await
        .expect("projection");
    assert_eq!(in_projection.len(), 7, "{in_projection:?}");
    assert_eq!(in_projection[0], (0, 1));
    assert!(in_projection[1..].iter().all(|(l, n)| *l > 0 && *n == 50), "{in_projection:?}");
    let _ = std::fs::remove_dir_all(&dir);
    db.drop().await;
}
