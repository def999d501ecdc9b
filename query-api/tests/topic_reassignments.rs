//! `/v1/topic-reassignments` against the real Postgres: a job is queued with its range and
//! topics, listed, read, cancelled once; every refusal names its reason. (A processor running
//! the job is tested in processors/tests/topic_reassignment.rs.)

mod common;

use chrono::{DateTime, Utc};
use common::start;
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn jobs_are_queued_read_and_cancelled_by_those_allowed() {
    let api = start(false, 50).await;
    let (_, manager) = api.logged_in(Role::Manager).await;
    let (_, agent) = api.logged_in(Role::Agent).await;
    let (status, topic) = api
        .send(
            Method::POST,
            "/v1/topics",
            &manager,
            Some(json!({"name": rtcx_service_kit::testing::unique("reassign"), "keywords": ["voucher"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{topic}");
    let topic_id = topic["id"].as_str().expect("topic id").to_owned();

    let before = Utc::now();
    let (status, job) = api
        .send(Method::POST, "/v1/topic-reassignments", &manager, Some(json!({"days": 30, "topic_ids": [topic_id]})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "QUEUED");
    assert_eq!(job["topic_ids"], json!([topic_id]));
    assert_eq!(job["days_total"], 31, "30 days from now touch 31 UTC days: {job}");
    assert_eq!((job["days_done"].as_i64(), job["rows_changed"].as_i64()), (Some(0), Some(0)));
    let from: DateTime<Utc> = job["range_from"].as_str().expect("from").parse().expect("time");
    let to: DateTime<Utc> = job["range_to"].as_str().expect("to").parse().expect("time");
    assert_eq!((to - from).num_days(), 30);
    assert!(to >= before - chrono::Duration::seconds(1) && to <= Utc::now());
    let id = job["id"].as_str().expect("id").to_owned();

    // An explicit range [from, to): kept as given; the UTC days it touches.
    let (status, ranged) = api
        .send(
            Method::POST,
            "/v1/topic-reassignments",
            &manager,
            Some(json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T12:00:00Z", "topic_ids": [topic_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ranged}");
    let bound = |field: &str| ranged[field].as_str().expect("time").parse::<DateTime<Utc>>().expect("time");
    assert_eq!(bound("range_from"), "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().expect("time"));
    assert_eq!(bound("range_to"), "2026-11-03T12:00:00Z".parse::<DateTime<Utc>>().expect("time"));
    assert_eq!(ranged["days_total"], 3, "{ranged}");
    // `from` alone runs up to now.
    let from = (Utc::now() - chrono::Duration::days(20)).to_rfc3339();
    let (status, open) =
        api.send(Method::POST, "/v1/topic-reassignments", &manager, Some(json!({"from": from, "to": null}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{open}");
    let open_to: DateTime<Utc> = open["range_to"].as_str().expect("to").parse().expect("time");
    assert!(open_to <= Utc::now() && open_to >= before, "{open}");

    // Without topics: every active topic (at least the one above).
    let (status, all) = api.send(Method::POST, "/v1/topic-reassignments", &manager, Some(json!({"days": 1}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{all}");
    assert!(all["topic_ids"].as_array().expect("topics").iter().any(|t| t == &json!(topic_id)));

    // Read by anyone who reads analytics; queued by those who manage topics.
    let (status, one) = api.get(&format!("/v1/topic-reassignments/{id}"), &agent).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], json!(id));
    let (status, list) = api.get("/v1/topic-reassignments", &agent).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.as_array().expect("list").iter().any(|j| j["id"] == json!(id)));
    let (status, _) = api.send(Method::POST, "/v1/topic-reassignments", &agent, Some(json!({"days": 1}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.send(Method::POST, &format!("/v1/topic-reassignments/{id}/cancel"), &agent, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Refusals.
    for (body, status, field) in [
        (json!({"days": 0}), StatusCode::BAD_REQUEST, "days"),
        (json!({"days": 401}), StatusCode::BAD_REQUEST, "days"),
        (
            json!({"days": 3, "topic_ids": (0..101).map(|_| Uuid::now_v7()).collect::<Vec<_>>()}),
            StatusCode::BAD_REQUEST,
            "topic_ids",
        ),
        (json!({"days": 3, "topic_ids": [Uuid::now_v7()]}), StatusCode::NOT_FOUND, "topic"),
        (json!({"days": 3, "range": "7d"}), StatusCode::BAD_REQUEST, "range"),
        (json!({}), StatusCode::BAD_REQUEST, "days"),
        (json!({"days": null, "from": null}), StatusCode::BAD_REQUEST, "days"),
        (json!({"days": 3, "from": "2026-11-01T00:00:00Z"}), StatusCode::BAD_REQUEST, "days"),
        (json!({"days": 3, "to": "2026-11-01T00:00:00Z"}), StatusCode::BAD_REQUEST, "days"),
        (json!({"to": "2026-11-01T00:00:00Z"}), StatusCode::BAD_REQUEST, "from"),
        (json!({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}), StatusCode::BAD_REQUEST, "from"),
        (json!({"from": "2024-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}), StatusCode::BAD_REQUEST, "400 days"),
        (json!({"from": "yesterday"}), StatusCode::BAD_REQUEST, "from"),
        (json!({"from": "1999-12-31T00:00:00Z", "to": "2000-01-02T00:00:00Z"}), StatusCode::BAD_REQUEST, "from"),
        (json!({"from": "2099-12-31T00:00:00Z", "to": "2100-01-02T00:00:00Z"}), StatusCode::BAD_REQUEST, "to"),
        (json!({"from": "-200000-01-01T00:00:00Z"}), StatusCode::BAD_REQUEST, "from"),
    ] {
        let (got, answer) = api.send(Method::POST, "/v1/topic-reassignments", &manager, Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer.to_string().contains(field), "{body}: {answer}");
    }

    // Cancelled once; then it has ended.
    let (status, cancelled) =
        api.send(Method::POST, &format!("/v1/topic-reassignments/{id}/cancel"), &manager, None).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(cancelled["finished_at"].is_string());
    let (status, _) = api.send(Method::POST, &format!("/v1/topic-reassignments/{id}/cancel"), &manager, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let other = all["id"].as_str().expect("id");
    let (status, _) = api.send(Method::POST, &format!("/v1/topic-reassignments/{other}/cancel"), &manager, None).await;
    assert_eq!(status, StatusCode::OK);
    let unknown = Uuid::now_v7();
    let (status, _) = api.get(&format!("/v1/topic-reassignments/{unknown}"), &agent).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        api.send(Method::POST, &format!("/v1/topic-reassignments/{unknown}/cancel"), &manager, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
