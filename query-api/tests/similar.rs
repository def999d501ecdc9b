//! `GET /v1/feedback/similar` against the real ClickHouse, with the processors' model: the
//! neighbours by meaning, in the order an exact search computed here gives, with the filters,
//! and every refusal; and with a coarse quantiser, the rows of the nearest lists only.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::{drop_clickhouse, start_with_clickhouse, start_with_lists, start_with_model};
use reqwest::StatusCode;
use rtcx_query_api::auth::Role;
use rtcx_schemas::embedding::{dequantise, quantise};
use rtcx_schemas::rows::FeedbackRow;
use serde_json::Value;
use uuid::Uuid;

const DELIVERY: [&str; 4] = [
    "My parcel never arrived and the tracking has not moved in a week.",
    "The courier left the package at the wrong address again.",
    "Order 2417 is still not delivered, it was promised for Monday.",
    "Where is my delivery? It says out for delivery since yesterday.",
];
const BILLING: [&str; 4] = [
    "I was charged twice for the same monthly subscription.",
    "Why is there an extra fee on my invoice this month?",
    "Refund the double payment taken from my card, please.",
    "My bill went up without any notice from you.",
];
const APP: [&str; 4] = [
    "The app crashes every time I open the settings page.",
    "After the last update the mobile app will not log me in.",
    "The login screen freezes on my phone since the new version.",
    "Your app keeps closing on its own when I scroll the menu.",
];

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn path(query: &str) -> String {
    format!("/v1/feedback/similar?{query}")
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items in {body}"))
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn neighbours_by_meaning_with_filters_match_an_exact_search() {
    let (api, database) = start_with_model().await;
    let (_, token) = api.logged_in(Role::Agent).await;
    let embedder = Arc::clone(api.state.embedder.as_ref().expect("embedder"));
    let now = Utc::now();
    let mut rows = Vec::new();
    for (g, (group, channel)) in [(DELIVERY, "chat"), (BILLING, "email"), (APP, "web")].into_iter().enumerate() {
        for (i, text) in group.iter().enumerate() {
            let embedding = embedder.embed(text).await.expect("embed");
            rows.push(FeedbackRow {
                text: (*text).into(),
                channel: channel.into(),
                sentiment_label: if i == 3 { "neutral" } else { "negative" }.into(),
                embedding: quantise(&embedding),
                ..FeedbackRow::blank(now - Duration::hours((g * 4 + i) as i64 + 1))
            });
        }
    }
    // Outside the default 30 days, and one stored without an embedding (the lexicon).
    let old = FeedbackRow {
        text: DELIVERY[0].into(),
        channel: "chat".into(),
        embedding: rows[0].embedding.clone(),
        ..FeedbackRow::blank(now - Duration::days(40))
    };
    let bare = FeedbackRow { text: DELIVERY[1].into(), ..FeedbackRow::blank(now - Duration::hours(2)) };
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in rows.iter().chain([&old, &bare]) {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");

    // By text: the delivery complaints first, in the order of an exact search over the stored
    // (int8) embeddings, with their similarity.
    let query = "Package has not been delivered yet";
    let q = dequantise(&quantise(&embedder.embed(query).await.expect("embed")));
    let mut exact: Vec<(f32, String)> =
        rows.iter().map(|r| (cosine(&q, &dequantise(&r.embedding)), r.id.to_string())).collect();
    exact.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (status, body) = api.get(&path("text=Package%20has%20not%20been%20delivered%20yet&limit=12"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found = ids(&body);
    assert_eq!(found, exact.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(), "exact order; {body}");
    let delivery: Vec<String> = rows[..4].iter().map(|r| r.id.to_string()).collect();
    for id in &found[..4] {
        assert!(delivery.contains(id), "a delivery text among the first four: {body}");
    }
    for (item, (s, _)) in body["items"].as_array().expect("items").iter().zip(&exact) {
        let got = item["similarity"].as_f64().expect("similarity") as f32;
        assert!((got - s).abs() < 1e-3, "{got} vs {s}");
        assert!(item["text"].is_string() && item["channel"].is_string());
    }
    assert_eq!(body["model"]["name"], "rtcx-minilm-l6-heads", "{body}");

    // By id: the stored feedback itself is not among its neighbours; billing comes first.
    let billing = rows[4].id.to_string();
    let (status, body) = api.get(&path(&format!("id={billing}&limit=3")), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found = ids(&body);
    assert_eq!(found.len(), 3);
    assert!(!found.contains(&billing));
    let others: Vec<String> = rows[5..8].iter().map(|r| r.id.to_string()).collect();
    assert!(others.contains(&found[0]), "another billing text first: {body}");
    assert!(body["model"].is_null());

    // Filters: channel, sentiment, a floor on similarity, the range.
    let (_, body) = api.get(&path(&format!("id={billing}&channel=web")), &token).await;
    let app: Vec<String> = rows[8..].iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids(&body).len(), 4);
    assert!(ids(&body).iter().all(|id| app.contains(id)), "{body}");
    let (_, body) = api.get(&path(&format!("id={billing}&sentiment=neutral")), &token).await;
    assert_eq!(ids(&body).len(), 3, "one neutral text per group: {body}");
    let (_, body) = api.get(&path(&format!("id={billing}&min_similarity=0.999")), &token).await;
    assert!(ids(&body).is_empty(), "no near-copy of it: {body}");
    let first = rows[0].id.to_string();
    let (_, body) = api.get(&path(&format!("id={first}&range=90d&min_similarity=0.999")), &token).await;
    assert_eq!(ids(&body), vec![old.id.to_string()], "the 40-day-old copy, only over 90 days: {body}");
    let from = (now - Duration::minutes(150)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, body) = api.get(&path(&format!("id={first}&from={from}")), &token).await;
    assert_eq!(ids(&body).len(), 1, "rows[1] only: {body}");

    // Refusals, each naming its field.
    for (query, field, status) in [
        ("", "text", StatusCode::BAD_REQUEST),
        (&format!("text=x&id={first}"), "text", StatusCode::BAD_REQUEST),
        ("text=%20%20", "text", StatusCode::BAD_REQUEST),
        ("text=x&min_similarity=1.5", "min_similarity", StatusCode::BAD_REQUEST),
        ("text=x&limit=51", "limit", StatusCode::BAD_REQUEST),
        ("text=x&cursor=abc", "cursor", StatusCode::BAD_REQUEST),
        ("text=x&channel=fax", "channel", StatusCode::BAD_REQUEST),
        (&format!("id={}", bare.id), "id", StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = api.get(&path(query), &token).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
    let (got, body) = api.get(&path(&format!("id={}", Uuid::now_v7())), &token).await;
    assert_eq!(got, StatusCode::NOT_FOUND, "{body}");
    let long = "a".repeat(2_001);
    let (got, _) = api.get(&path(&format!("text={long}")), &token).await;
    assert_eq!(got, StatusCode::BAD_REQUEST);
    drop_clickhouse(&database).await;
}

#[tokio::test]
async fn without_a_model_text_is_unavailable_and_id_still_works() {
    let (api, database) = start_with_clickhouse().await;
    let (_, token) = api.logged_in(Role::ApiUser).await;
    let row = FeedbackRow { embedding: vec![127, 0, -5], ..FeedbackRow::blank(Utc::now() - Duration::minutes(5)) };
    let near = FeedbackRow { embedding: vec![120, 10, -5], ..FeedbackRow::blank(Utc::now() - Duration::minutes(4)) };
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    insert.write(&row).await.expect("write");
    insert.write(&near).await.expect("write");
    insert.end().await.expect("end");
    let (status, body) = api.get(&path("text=late%20parcel"), &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, body) = api.get(&path(&format!("id={}", row.id)), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), vec![near.id.to_string()]);
    let s = body["items"][0]["similarity"].as_f64().expect("similarity");
    let expected = cosine(&dequantise(&row.embedding), &dequantise(&near.embedding)) as f64;
    assert!((s - expected).abs() < 1e-4, "{s} vs {expected}");
    drop_clickhouse(&database).await;
}

/// Eight values near axis `axis`, with a small reproducible wobble.
fn near_axis(axis: usize, wobble: u64) -> Vec<f32> {
    (0..8).map(|i| if i == axis { 1.0 } else { ((wobble * 7 + i as u64 * 3) % 11) as f32 / 40.0 }).collect()
}

#[tokio::test]
async fn with_lists_a_search_reads_the_nearest_lists_and_the_unfiled_rows() {
    use rtcx_schemas::embedding_lists::EmbeddingLists;
    // Three lists, one per axis; a search reads the one nearest its query (and list 0).
    let centroids: Vec<Vec<f32>> = (0..3).map(|a| near_axis(a, 0)).collect();
    let lists = Arc::new(EmbeddingLists::from_centroids(&centroids).expect("lists"));
    let (api, database) =
        start_with_lists(rtcx_query_api::similar::ListIndex { lists: Some(Arc::clone(&lists)), probes: 1 }).await;
    let (_, token) = api.logged_in(Role::Agent).await;
    let now = Utc::now();
    let mut rows = Vec::new();
    for axis in 0..3 {
        for w in 1..=4u64 {
            let embedding = quantise(&near_axis(axis, w));
            rows.push(FeedbackRow {
                embedding_list: lists.file(&embedding),
                embedding,
                segment: if w == 1 { "vip" } else { "" }.into(),
                channel: if w == 2 { "chat" } else { "web" }.into(),
                ..FeedbackRow::blank(now - Duration::minutes((axis * 10 + w as usize) as i64))
            });
        }
    }
    // Near axis 0, but unfiled (stored before the lists), and one filed in a far list (as a
    // quantiser change would leave it).
    let unfiled =
        FeedbackRow { embedding: quantise(&near_axis(0, 5)), ..FeedbackRow::blank(now - Duration::minutes(50)) };
    let misfiled = FeedbackRow {
        embedding: quantise(&near_axis(0, 6)),
        embedding_list: 3,
        segment: "vip".into(),
        ..FeedbackRow::blank(now - Duration::minutes(51))
    };
    assert_eq!(rows.iter().map(|r| r.embedding_list).collect::<Vec<_>>(), [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in rows.iter().chain([&unfiled, &misfiled]) {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");
    let all: Vec<&FeedbackRow> = rows.iter().chain([&unfiled, &misfiled]).collect();
    let target = &rows[0];
    let ranked = |keep: &dyn Fn(&FeedbackRow) -> bool| -> Vec<String> {
        let q = dequantise(&target.embedding);
        let mut r: Vec<(f32, String)> = all
            .iter()
            .filter(|r| r.id != target.id && keep(r))
            .map(|r| (cosine(&q, &dequantise(&r.embedding)), r.id.to_string()))
            .collect();
        r.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        r.into_iter().map(|(_, id)| id).collect()
    };

    // Lists 0 and 1 only: the three other rows of axis 0 and the unfiled one, not the misfiled.
    let (status, body) = api.get(&path(&format!("id={}&limit=20", target.id)), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = ranked(&|r| r.embedding_list <= 1);
    assert_eq!(expected.len(), 4);
    assert_eq!(ids(&body), expected, "{body}");
    // exact=true: every row of the range, the misfiled one too.
    let (_, body) = api.get(&path(&format!("id={}&limit=20&exact=true", target.id)), &token).await;
    assert_eq!(ids(&body), ranked(&|_| true), "{body}");
    assert!(ids(&body).contains(&misfiled.id.to_string()));
    // A filter outside the projection's columns (segment) makes the search exact within it.
    let (_, body) = api.get(&path(&format!("id={}&segment=vip", target.id)), &token).await;
    assert_eq!(ids(&body), ranked(&|r| r.segment == "vip"), "{body}");
    assert!(ids(&body).contains(&misfiled.id.to_string()));
    // A filter the projection holds keeps reading the lists.
    let (_, body) = api.get(&path(&format!("id={}&channel=web", target.id)), &token).await;
    assert_eq!(ids(&body), ranked(&|r| r.embedding_list <= 1 && r.channel == "web"), "{body}");
    let (status, body) = api.get(&path(&format!("id={}&exact=maybe", target.id)), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Parts without the projection (as existing parts are while MATERIALIZE PROJECTION runs)
    // are read from the table: the same rows, then one more in a new part that has it.
    api.state
        .ch
        .query("ALTER TABLE feedback CLEAR PROJECTION by_embedding_list")
        .with_setting("mutations_sync", "2")
        .execute()
        .await
        .expect("clear the projection");
    let projected: u64 = api
        .state
        .ch
        .query("SELECT count() FROM mergeTreeProjection(currentDatabase(), 'feedback', 'by_embedding_list')")
        .fetch_one()
        .await
        .expect("count the projection's rows");
    assert_eq!(projected, 0, "the projection is cleared");
    let (_, body) = api.get(&path(&format!("id={}&limit=20", target.id)), &token).await;
    assert_eq!(ids(&body), expected, "{body}");
    let late = {
        let embedding = quantise(&near_axis(0, 7));
        FeedbackRow {
            embedding_list: lists.file(&embedding),
            embedding,
            ..FeedbackRow::blank(now - Duration::minutes(52))
        }
    };
    assert_eq!(late.embedding_list, 1);
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    insert.write(&late).await.expect("write");
    insert.end().await.expect("end");
    let (_, body) = api.get(&path(&format!("id={}&limit=20", target.id)), &token).await;
    let found = ids(&body);
    assert_eq!(found.len(), 5, "{body}");
    assert!(found.contains(&late.id.to_string()), "{body}");
    assert!(expected.iter().all(|id| found.contains(id)), "{body}");
    drop_clickhouse(&database).await;
}
