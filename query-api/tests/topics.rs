//! Topics over HTTP against the real Postgres and ClickHouse: catalogue CRUD, deletion
//! guarded by references, suggestions accepted and rejected, and stats and trending computed
//! from rows inserted into ClickHouse, checked against counts computed here.

mod common;

use chrono::{Duration, Utc};
use common::{field, start_with_clickhouse};
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_service_kit::testing::unique;
use serde_json::json;
use uuid::Uuid;

fn row(topic: Uuid, hours_ago: i64, channel: &str, label: &str, score: f32) -> FeedbackRow {
    FeedbackRow {
        channel: channel.into(),
        sentiment_label: label.into(),
        sentiment_score: score,
        topic_ids: vec![topic],
        ..FeedbackRow::blank(Utc::now() - Duration::hours(hours_ago) - Duration::minutes(1))
    }
}

#[tokio::test]
async fn topics_crud_analytics_deletion_guard_and_suggestions() {
    let (api, database) = start_with_clickhouse().await;
    let (_, manager) = api.logged_in(Role::Manager).await;
    let (_, agent) = api.logged_in(Role::Agent).await;
    let tag = unique("refunds");

    let (status, a) = api
        .send(
            Method::POST,
            "/v1/topics",
            &manager,
            Some(json!({"name": tag, "category": "billing", "keywords": ["Refund", " refund ", "late parcel"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!(a["keywords"], json!(["late parcel", "refund"]), "trimmed, lower-cased, deduplicated");
    let a_id: Uuid = field(&a, "id").parse().expect("uuid");
    let (status, _) = api.send(Method::POST, "/v1/topics", &manager, Some(json!({"name": tag.to_uppercase()}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique, case-insensitively");
    let (status, body) =
        api.send(Method::POST, "/v1/topics", &manager, Some(json!({"name": "", "keywords": [""]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["details"]["name"].is_string() && body["error"]["details"]["keywords"].is_string());
    let (status, _) = api.send(Method::POST, "/v1/topics", &agent, Some(json!({"name": "agents cannot"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let b_name = unique("checkout");
    let (_, b) = api.send(Method::POST, "/v1/topics", &manager, Some(json!({"name": b_name}))).await;
    let b_id: Uuid = field(&b, "id").parse().expect("uuid");

    // Search and category filter (agents may read); hostile input is data.
    let (status, found) = api.send(Method::GET, &format!("/v1/topics?q={tag}&category=billing"), &agent, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    let (_, by_keyword) = api.send(Method::GET, "/v1/topics?q=late%20parcel&category=billing", &agent, None).await;
    assert!(by_keyword.as_array().expect("list").iter().any(|t| t["id"] == a_id.to_string()));
    let (status, none) = api.send(Method::GET, "/v1/topics?q=%27%20OR%201%3D1%20--", &agent, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none.as_array().map(Vec::len), Some(0));

    // Feedback in ClickHouse: A has 3 in the last 24 h and 1 the day before; B has 2, all new.
    let rows = vec![
        row(a_id, 1, "web", "negative", -0.8),
        row(a_id, 2, "web", "negative", -0.4),
        row(a_id, 3, "email", "positive", 0.6),
        row(a_id, 30, "chat", "neutral", 0.0),
        row(b_id, 1, "web", "negative", -0.2),
        row(b_id, 5, "social", "negative", -0.6),
    ];
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in &rows {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");

    let (status, stats) = api.send(Method::GET, &format!("/v1/topics/{a_id}/stats?range=24h"), &agent, None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["feedback_count"], 3);
    assert_eq!(stats["sentiment"], json!({"negative": 2, "positive": 1}));
    assert_eq!(stats["channels"], json!({"email": 1, "web": 2}));
    let avg = stats["average_sentiment"].as_f64().expect("average");
    assert!((avg - (-0.8 - 0.4 + 0.6) / 3.0).abs() < 1e-6, "{avg}");
    let (_, week) = api.send(Method::GET, &format!("/v1/topics/{a_id}/stats?range=7d"), &agent, None).await;
    assert_eq!(week["feedback_count"], 4);
    let (status, _) = api.send(Method::GET, &format!("/v1/topics/{a_id}/stats?range=2w"), &agent, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, trending) = api.send(Method::GET, "/v1/topics/trending?range=24h", &agent, None).await;
    let list = trending.as_array().expect("list");
    let pos = |id: Uuid| list.iter().position(|t| t["topic_id"] == id.to_string()).expect("listed");
    assert!(pos(b_id) < pos(a_id), "a new topic ranks before a growing one: {trending}");
    assert_eq!(list[pos(a_id)]["current"], 3);
    assert_eq!(list[pos(a_id)]["previous"], 1);
    assert_eq!(list[pos(a_id)]["growth"], 2.0);
    assert!(list[pos(b_id)]["growth"].is_null());
    // Over 7 days: A has all 4 rows, none before.
    let (_, week) = api.send(Method::GET, "/v1/topics/trending?range=7d", &agent, None).await;
    let list = week.as_array().expect("list");
    let a = list.iter().find(|t| t["topic_id"] == a_id.to_string()).expect("A listed");
    assert_eq!((a["current"].as_u64(), a["previous"].as_u64()), (Some(4), Some(0)), "{week}");

    // Sentiment drivers over 24 h: overall average of the 5 rows is -0.28; A (3 rows, -0.2)
    // lifts it by 0.6 × 0.08, B (2 rows, -0.4) drags it by 0.4 × 0.12.
    let (status, drivers) = api.send(Method::GET, "/v1/dashboard/drivers?range=24h", &agent, None).await;
    assert_eq!(status, StatusCode::OK, "{drivers}");
    let d = drivers.as_array().expect("list");
    assert_eq!(d.len(), 2);
    assert_eq!(d[0]["topic_id"], b_id.to_string(), "the biggest detractor first");
    assert!((d[0]["effect"].as_f64().expect("effect") + 0.048).abs() < 1e-6, "{drivers}");
    assert!((d[1]["effect"].as_f64().expect("effect") - 0.048).abs() < 1e-6, "{drivers}");
    assert!((d[1]["share"].as_f64().expect("share") - 0.6).abs() < 1e-9);
    assert_eq!(d[1]["name"], tag.as_str());
    // Over 7 days (whole days from the daily rollup, the edges from the hourly one): all six
    // rows, overall average -1.4 / 6; A (4 rows, -0.15) and B (2 rows, -0.4).
    let (status, week) = api.send(Method::GET, "/v1/dashboard/drivers?range=7d", &agent, None).await;
    assert_eq!(status, StatusCode::OK, "{week}");
    let w = week.as_array().expect("list");
    assert_eq!(w.len(), 2, "{week}");
    let overall = -1.4 / 6.0;
    assert_eq!((w[0]["topic_id"].as_str(), w[0]["volume"].as_u64()), (Some(b_id.to_string().as_str()), Some(2)));
    assert_eq!((w[1]["topic_id"].as_str(), w[1]["volume"].as_u64()), (Some(a_id.to_string().as_str()), Some(4)));
    let effect_b = 2.0 / 6.0 * (-0.4 - overall);
    assert!((w[0]["effect"].as_f64().expect("effect") - effect_b).abs() < 1e-6, "{week}");
    let effect_a = 4.0 / 6.0 * (-0.15 - overall);
    assert!((w[1]["effect"].as_f64().expect("effect") - effect_a).abs() < 1e-6, "{week}");

    // Deletion: refused while referenced, allowed once archived.
    let (status, _) = api.send(Method::DELETE, &format!("/v1/topics/{a_id}"), &manager, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, archived) =
        api.send(Method::PATCH, &format!("/v1/topics/{a_id}"), &manager, Some(json!({"archived": true}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(archived["archived"], true);
    let (_, visible) = api.send(Method::GET, &format!("/v1/topics?q={tag}"), &agent, None).await;
    assert_eq!(visible.as_array().map(Vec::len), Some(0), "archived topics are hidden by default");
    assert_eq!(api.send(Method::DELETE, &format!("/v1/topics/{a_id}"), &manager, None).await.0, StatusCode::NO_CONTENT);

    // Suggestions from the clustering job.
    let phrase = unique("damaged box");
    let ids: Vec<Uuid> = {
        let mut v = Vec::new();
        for label in [phrase.clone(), unique("noise")] {
            let id: Uuid = sqlx::query_scalar(
                "INSERT INTO topic_suggestions (label, key_phrases, size) VALUES ($1, $2, 7) RETURNING id",
            )
            .bind(&label)
            .bind(vec![label.clone(), "broken".to_owned()])
            .fetch_one(&api.state.pg)
            .await
            .expect("suggestion");
            v.push(id);
        }
        v
    };
    let (_, pending) = api.send(Method::GET, "/v1/topics/suggestions", &manager, None).await;
    assert!(pending.as_array().expect("list").iter().any(|s| s["id"] == ids[0].to_string()));
    // The body is required: none, or one that is not JSON, is a 400 and decides nothing.
    let (status, body) =
        api.send(Method::POST, &format!("/v1/topics/suggestions/{}/accept", ids[0]), &manager, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, topic) = api
        .send(
            Method::POST,
            &format!("/v1/topics/suggestions/{}/accept", ids[0]),
            &manager,
            Some(json!({"category": "delivery"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{topic}");
    assert_eq!(topic["name"], phrase.as_str());
    assert_eq!(topic["category"], "delivery");
    assert!(topic["keywords"].as_array().expect("keywords").iter().any(|k| k == "broken"));
    let (status, _) =
        api.send(Method::POST, &format!("/v1/topics/suggestions/{}/accept", ids[0]), &manager, Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "decided once");
    assert_eq!(
        api.send(Method::POST, &format!("/v1/topics/suggestions/{}/reject", ids[1]), &manager, None).await.0,
        StatusCode::NO_CONTENT
    );
    let status: String = sqlx::query_scalar("SELECT status FROM topic_suggestions WHERE id = $1")
        .bind(ids[1])
        .fetch_one(&api.state.pg)
        .await
        .expect("status");
    assert_eq!(status, "REJECTED");

    common::drop_clickhouse(&database).await;
}
