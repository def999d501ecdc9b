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

#[tokio::test]
async fn topics_by_example_corrections_reasons_and_quality() {
    let (api, _database) = start_with_clickhouse().await;
    let (_, manager) = api.logged_in(Role::Manager).await;
    let (_, agent) = api.logged_in(Role::Agent).await;

    // Excluded keywords are part of the definition, cleaned like keywords.
    let (status, t) = api
        .send(
            Method::POST,
            "/v1/topics",
            &manager,
            Some(json!({"name": unique("delivery"), "keywords": ["parcel"], "excluded_keywords": [" Newsletter ", "newsletter"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["excluded_keywords"], json!(["newsletter"]));
    let id: Uuid = field(&t, "id").parse().expect("uuid");
    let (status, patched) = api
        .send(Method::PATCH, &format!("/v1/topics/{id}"), &manager, Some(json!({"excluded_keywords": ["promo code"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["excluded_keywords"], json!(["promo code"]));

    // Examples and counter-examples; the same text again updates its row.
    let examples = format!("/v1/topics/{id}/examples");
    let body = json!({"examples": [
        {"text": "Tracking has said out for delivery for three days."},
        {"text": "The courier left my parcel in the rain."},
        {"text": "How long does delivery to Ireland take?", "positive": false},
    ]});
    let (status, added) = api.send(Method::POST, &examples, &manager, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added.as_array().map(Vec::len), Some(3));
    assert_eq!(added[0]["source"], "USER");
    assert_eq!(added[2]["positive"], false);
    let again = json!({"examples": [{"text": "The courier left my parcel in the rain.", "positive": false}]});
    let (status, updated) = api.send(Method::POST, &examples, &manager, Some(again)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(updated[0]["id"], added[1]["id"], "same topic and text: the same example");
    let (status, listed) = api.send(Method::GET, &examples, &agent, None).await;
    assert_eq!(status, StatusCode::OK, "agents may read examples");
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    assert_eq!(listed.as_array().into_iter().flatten().filter(|e| e["positive"] == false).count(), 2);

    // Refused: no examples, an invisible text, an agent, an unknown topic.
    for bad in [json!({"examples": []}), json!({"examples": [{"text": "   "}]}), json!({"examples": [{"txt": "x"}]})] {
        let (status, b) = api.send(Method::POST, &examples, &manager, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    let one = json!({"examples": [{"text": "Where is my parcel?"}]});
    let (status, _) = api.send(Method::POST, &examples, &agent, Some(one.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        api.send(Method::POST, &format!("/v1/topics/{}/examples", Uuid::now_v7()), &manager, Some(one)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A stored feedback with its reasons: served as objects, in the order of its topics.
    let feedback = FeedbackRow {
        text: "Parcel stuck at the depot since Monday".into(),
        topic_ids: vec![id],
        topic_reasons: vec![r#"{"by":"keyword","keyword":"parcel"}"#.into()],
        ..FeedbackRow::blank(Utc::now() - Duration::minutes(5))
    };
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    insert.write(&feedback).await.expect("write");
    insert.end().await.expect("end");
    let (status, item) = api.send(Method::GET, &format!("/v1/feedback/{}", feedback.id), &agent, None).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["topic_reasons"], json!([{"by": "keyword", "keyword": "parcel"}]));

    // A correction makes the feedback's text an example (or counter-example) of the topic.
    let correct = format!("/v1/feedback/{}/topics", feedback.id);
    let (status, c) = api.send(Method::POST, &correct, &manager, Some(json!({"topic_id": id, "about": true}))).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!((c["source"].as_str(), c["positive"].as_bool()), (Some("CORRECTION"), Some(true)));
    assert_eq!(c["feedback_id"], json!(feedback.id));
    assert_eq!(c["text"], json!(feedback.text));
    let (status, c2) = api.send(Method::POST, &correct, &manager, Some(json!({"topic_id": id, "about": false}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (c2["id"].clone(), c2["positive"].as_bool()),
        (c["id"].clone(), Some(false)),
        "replaces the earlier one"
    );
    let (status, _) = api.send(Method::POST, &correct, &agent, Some(json!({"topic_id": id, "about": true}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let unknown = format!("/v1/feedback/{}/topics", Uuid::now_v7());
    let (status, _) = api.send(Method::POST, &unknown, &manager, Some(json!({"topic_id": id, "about": true}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Quality: counts from Postgres, volume from the rollup, the processors' figures once
    // they have measured the topic, and advice.
    let quality = format!("/v1/topics/{id}/quality");
    let (status, q) = api.send(Method::GET, &quality, &agent, None).await;
    assert_eq!(status, StatusCode::OK, "{q}");
    assert_eq!(
        (q["examples"].as_i64(), q["counter_examples"].as_i64(), q["corrections"].as_i64()),
        (Some(1), Some(3), Some(1))
    );
    assert_eq!(q["feedback_last_30_days"], 1);
    assert!(q["threshold"].is_null(), "not measured yet");
    assert!(q["advice"][0].as_str().is_some_and(|a| a.contains("own threshold")), "{q}");
    sqlx::query(
        "INSERT INTO topic_quality (topic_id, examples, negatives, threshold, calibration, recall, precision, confusion, model_version) \
         VALUES ($1, 24, 3, 0.41, 'LEAVE_ONE_OUT', 0.6, 0.8, 0.25, 'test')",
    )
    .bind(id)
    .execute(&api.state.pg)
    .await
    .expect("as the processors record it");
    let (_, q) = api.send(Method::GET, &quality, &agent, None).await;
    assert_eq!(q["calibration"], "LEAVE_ONE_OUT");
    assert!((q["threshold"].as_f64().unwrap_or_default() - 0.41).abs() < 1e-6);
    let advice = q["advice"].to_string();
    assert!(advice.contains("splitting") && advice.contains("another topic"), "{advice}");

    // Removing an example; an accepted suggestion's examples become the topic's.
    let example_id = field(&added[0], "id");
    let (status, _) = api.send(Method::DELETE, &format!("{examples}/{example_id}"), &manager, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.send(Method::DELETE, &format!("{examples}/{example_id}"), &manager, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let suggestion: Uuid = sqlx::query_scalar(
        "INSERT INTO topic_suggestions (label, key_phrases, size, examples) VALUES ($1, '{refund}', 5, $2) RETURNING id",
    )
    .bind(unique("refund suggestion"))
    .bind(json!([{"id": Uuid::now_v7(), "text": "Still no refund after a month"}, {"id": "not-a-uuid", "text": "Refund please"}]))
    .fetch_one(&api.state.pg)
    .await
    .expect("a suggestion");
    let (status, accepted) =
        api.send(Method::POST, &format!("/v1/topics/suggestions/{suggestion}/accept"), &manager, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    let (_, from_suggestion) =
        api.send(Method::GET, &format!("/v1/topics/{}/examples", field(&accepted, "id")), &agent, None).await;
    let mut sources: Vec<(&str, bool)> = from_suggestion
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["source"].as_str().unwrap_or_default(), e["feedback_id"].is_null()))
        .collect();
    sources.sort_unstable();
    assert_eq!(sources, vec![("SUGGESTION", false), ("SUGGESTION", true)], "{from_suggestion}");

    for archive in [id, field(&accepted, "id").parse().expect("uuid")] {
        api.send(Method::PATCH, &format!("/v1/topics/{archive}"), &manager, Some(json!({"archived": true}))).await;
    }
}
