//! Feedback search and dashboard analytics against rows inserted into ClickHouse, checked
//! against figures computed here from the same rows.

mod common;

use std::collections::HashSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::start_with_clickhouse;
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use rtcx_schemas::rows::FeedbackRow;
use serde_json::Value;
use uuid::Uuid;

const CHANNELS: [&str; 3] = ["email", "web", "chat"];
const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

fn rows(now: DateTime<Utc>) -> Vec<FeedbackRow> {
    (0..40usize)
        .map(|i| {
            let at = now - Duration::hours((i * 6 + 1) as i64) - Duration::minutes(10);
            let label = LABELS[i % 3];
            FeedbackRow {
                channel: CHANNELS[(i / 3) % 3].into(),
                text: if i % 5 == 0 { format!("Parcel {i} was LATE") } else { format!("Feedback number {i}") },
                nps: (i % 2 == 0).then_some((i % 11) as u8),
                csat: (i % 3 == 0).then_some((i % 5 + 1) as u8),
                customer_id: format!("c{}", i % 4),
                segment: "smb".into(),
                journey_stage: "support".into(),
                sentiment_label: label.into(),
                sentiment_score: match label {
                    "negative" => -0.5 - (i as f32) / 100.0,
                    "positive" => 0.5 + (i as f32) / 100.0,
                    _ => 0.0,
                },
                ..FeedbackRow::blank(at)
            }
        })
        .collect()
}

fn hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).expect("truncate")
}

#[tokio::test]
async fn search_and_dashboards_match_counts_computed_from_the_rows() {
    let (api, database) = start_with_clickhouse().await;
    let (_, token) = api.logged_in(Role::Agent).await;
    let now = Utc::now();
    let all = rows(now);
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in &all {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");

    // Overview for email over 7 days: rollups count whole hours from the range's first hour.
    let start = hour(now - Duration::days(7));
    let email: Vec<&FeedbackRow> =
        all.iter().filter(|r| r.channel == "email" && hour(r.occurred_at) >= start).collect();
    let (status, o) = api.send(Method::GET, "/v1/dashboard/overview?range=7d&channel=email", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["current"]["volume"], email.len() as u64);
    for label in LABELS {
        assert_eq!(
            o["sentiment"][label],
            email.iter().filter(|r| r.sentiment_label == label).count() as u64,
            "{label}"
        );
    }
    let avg = email.iter().map(|r| r.sentiment_score as f64).sum::<f64>() / email.len() as f64;
    assert!((o["current"]["average_sentiment"].as_f64().expect("avg") - avg).abs() < 1e-4);
    let nps: Vec<u8> = email.iter().filter_map(|r| r.nps).collect();
    let promoters = nps.iter().filter(|&&n| n >= 9).count() as f64;
    let detractors = nps.iter().filter(|&&n| n <= 6).count() as f64;
    let expected_nps = 100.0 * (promoters - detractors) / nps.len() as f64;
    assert!((o["current"]["nps"].as_f64().expect("nps") - expected_nps).abs() < 1e-9);
    let csat: Vec<u8> = email.iter().filter_map(|r| r.csat).collect();
    let expected_csat = 100.0 * csat.iter().filter(|&&c| c >= 4).count() as f64 / csat.len() as f64;
    assert!((o["current"]["csat"].as_f64().expect("csat") - expected_csat).abs() < 1e-9);
    let prev_start = hour(now - Duration::days(14));
    let previous = all
        .iter()
        .filter(|r| {
            r.channel == "email" && hour(r.occurred_at) >= prev_start && r.occurred_at < now - Duration::days(7)
        })
        .count();
    assert_eq!(o["previous"]["volume"], previous as u64);
    assert!(o["open_alerts"].is_i64());

    // Daily trend: contiguous buckets, gaps as zeros, the same total as the overview.
    let (status, trend) =
        api.send(Method::GET, "/v1/dashboard/sentiment-trend?range=7d&interval=day", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{trend}");
    let points = trend.as_array().expect("points");
    assert_eq!(points.len(), 8, "7 days + today's partial day");
    let in_range = all.iter().filter(|r| hour(r.occurred_at) >= start).count() as u64;
    assert_eq!(points.iter().map(|p| p["volume"].as_u64().unwrap_or(0)).sum::<u64>(), in_range);
    let (status, _) =
        api.send(Method::GET, "/v1/dashboard/sentiment-trend?range=90d&interval=hour", &token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Per channel, segment, journey stage and emotion.
    let (status, by_channel) = api.send(Method::GET, "/v1/dashboard/channels?range=7d", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{by_channel}");
    for c in CHANNELS {
        let rows_c: Vec<&FeedbackRow> = all.iter().filter(|r| r.channel == c && hour(r.occurred_at) >= start).collect();
        let got = by_channel.as_array().expect("list").iter().find(|g| g["key"] == c).expect("channel listed");
        assert_eq!(got["volume"], rows_c.len() as u64, "{c}");
        let neg = rows_c.iter().filter(|r| r.sentiment_label == "negative").count() as f64 / rows_c.len() as f64;
        assert!((got["negative_share"].as_f64().expect("share") - neg).abs() < 1e-9, "{c}");
    }
    let day_start = (now - Duration::days(7)).date_naive();
    let in_days = all.iter().filter(|r| r.occurred_at.date_naive() >= day_start).count() as u64;
    for path in ["segments", "journey-stages"] {
        let (status, groups) = api.send(Method::GET, &format!("/v1/dashboard/{path}?range=7d"), &token, None).await;
        assert_eq!(status, StatusCode::OK, "{groups}");
        assert_eq!(groups.as_array().map(Vec::len), Some(1), "{path}: {groups}");
        assert_eq!(groups[0]["volume"], in_days, "{path}");
    }
    let (_, emotions) = api.send(Method::GET, "/v1/dashboard/emotions?range=7d", &token, None).await;
    let neutral = emotions.as_array().expect("list").iter().find(|e| e["emotion"] == "neutral").expect("neutral");
    assert_eq!(neutral["dominant"], in_range);
    assert!((neutral["average_probability"].as_f64().expect("p") - 1.0).abs() < 1e-9);
    let (_, drivers) = api.send(Method::GET, "/v1/dashboard/drivers?range=7d", &token, None).await;
    assert_eq!(drivers.as_array().map(Vec::len), Some(0), "no topics on these rows");

    // Search: negative email feedback of 30 days, pages of 3, newest first, no repeats.
    let expected: Vec<Uuid> = {
        let mut v: Vec<&FeedbackRow> = all
            .iter()
            .filter(|r| {
                r.channel == "email" && r.sentiment_label == "negative" && r.occurred_at >= now - Duration::days(30)
            })
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.occurred_at));
        v.iter().map(|r| r.id).collect()
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut newer_id: Option<Uuid> = None;
    loop {
        let mut path = "/v1/feedback?range=30d&channel=email&sentiment=negative&limit=3".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = api.send(Method::GET, &path, &token, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").parse::<Uuid>().expect("uuid"));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        // A newer matching row arriving between pages does not shift the later pages.
        if newer_id.is_none() {
            let newer = FeedbackRow {
                channel: "email".into(),
                sentiment_label: "negative".into(),
                sentiment_score: -0.9,
                ..FeedbackRow::blank(now - Duration::minutes(1))
            };
            let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
            insert.write(&newer).await.expect("write");
            insert.end().await.expect("end");
            newer_id = Some(newer.id);
        }
    }
    assert_eq!(seen, expected, "every match once, newest first");
    let text_hits = |page: &Value| page["items"].as_array().map(Vec::len).unwrap_or(0);
    let (_, late) = api.send(Method::GET, "/v1/feedback?range=90d&q=late&limit=200", &token, None).await;
    assert_eq!(text_hits(&late), all.iter().filter(|r| r.text.to_lowercase().contains("late")).count());
    let (_, scored) = api.send(Method::GET, "/v1/feedback?range=90d&min_score=0.6&limit=200", &token, None).await;
    assert_eq!(text_hits(&scored), all.iter().filter(|r| r.sentiment_score >= 0.6).count());
    for hostile in ["%27%20OR%201%3D1%20--", "%5C", "x%27)%20OR%20(1%3D1"] {
        let (status, page) = api.send(Method::GET, &format!("/v1/feedback?range=90d&q={hostile}"), &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(text_hits(&page), 0, "{hostile}");
        for field in ["customer_id", "segment", "journey_stage", "language"] {
            let (status, page) =
                api.send(Method::GET, &format!("/v1/feedback?range=90d&{field}={hostile}"), &token, None).await;
            assert_eq!(status, StatusCode::OK, "{field}");
            assert_eq!(text_hits(&page), 0, "{field}={hostile}");
        }
        let (status, _) = api.send(Method::GET, &format!("/v1/feedback?range=90d&topic={hostile}"), &token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a topic must be a UUID");
    }
    for bad in ["channel=fax", "sentiment=angry", "min_score=2", "limit=0", "cursor=nonsense", "range=1y"] {
        let (status, body) = api.send(Method::GET, &format!("/v1/feedback?{bad}"), &token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    let one = &all[0];
    let (status, item) = api.send(Method::GET, &format!("/v1/feedback/{}", one.id), &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["text"], one.text.as_str());
    assert_eq!(
        api.send(Method::GET, &format!("/v1/feedback/{}", Uuid::new_v4()), &token, None).await.0,
        StatusCode::NOT_FOUND
    );

    // Exports: the same filtered rows as CSV (header + one line per row) and as Parquet.
    let export = |format: &str| {
        api.http
            .get(format!("{}/v1/feedback/export?format={format}&range=30d&channel=email&sentiment=negative", api.base))
            .bearer_auth(&token)
            .send()
    };
    let csv = export("csv").await.expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"].to_str().unwrap_or_default().contains(".csv"));
    let text = csv.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("\"id\",\"occurred_at\""), "{}", lines[0]);
    // The export runs after the newer row arrived: it comes first.
    let exported: Vec<Uuid> = newer_id.into_iter().chain(expected.iter().copied()).collect();
    assert_eq!(lines.len() - 1, exported.len());
    for (line, id) in lines[1..].iter().zip(&exported) {
        assert!(line.starts_with(&format!("\"{id}\"")), "{line}");
    }
    let parquet = export("parquet").await.expect("parquet").bytes().await.expect("body");
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"), "a Parquet file");
    let (status, _) = api.send(Method::GET, "/v1/feedback/export?format=xlsx", &token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let ids: HashSet<Uuid> = seen.into_iter().collect();
    assert_eq!(ids.len(), expected.len());
    common::drop_clickhouse(&database).await;
}
