//! Webhook endpoints over HTTP against the real Postgres: ADMIN only, the secret shown at
//! creation and rotation only, URL and event-type validation (the SSRF refusals included),
//! changes, re-activation after a 410, the delivery log with its filters, and deletion.

mod common;

use common::{field, start};
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use serde_json::json;

#[tokio::test]
async fn admins_manage_webhooks_and_read_their_deliveries() {
    let api = start(false, 50).await;
    let (_, admin) = api.logged_in(Role::Admin).await;
    let (_, manager) = api.logged_in(Role::Manager).await;

    let (status, created) = api
        .send(
            Method::POST,
            "/v1/webhooks",
            &admin,
            Some(json!({"name": " Ops hook ", "url": "https://hooks.example.com/rtcx",
                        "event_types": ["alert.resolved", "alert.created", "alert.created"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = field(&created, "id").to_owned();
    let secret = field(&created, "secret").to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 30, "{secret}");
    assert_eq!(created["name"], "Ops hook");
    assert_eq!(created["format"], "standard");
    assert_eq!(created["event_types"], json!(["alert.created", "alert.resolved"]));
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&api.state.pg)
        .await
        .expect("stored secret");
    assert_eq!(stored, secret, "the notifier signs with what was shown");

    let (status, one) = api.send(Method::GET, &format!("/v1/webhooks/{id}"), &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(one.get("secret").is_none(), "the secret is shown once");
    let (_, list) = api.send(Method::GET, "/v1/webhooks", &admin, None).await;
    assert!(list.as_array().expect("list").iter().any(|w| w["id"] == id.as_str() && w.get("secret").is_none()));
    let (status, _) = api.send(Method::GET, "/v1/webhooks", &manager, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "ADMIN only");

    // Validation, SSRF refusals included.
    for (body, bad_field) in [
        (json!({"name": "x", "url": "http://127.0.0.1:8080/h", "event_types": ["alert.created"]}), "url"),
        (json!({"name": "x", "url": "http://169.254.169.254/latest", "event_types": ["alert.created"]}), "url"),
        (json!({"name": "x", "url": "http://localhost/h", "event_types": ["alert.created"]}), "url"),
        (json!({"name": "x", "url": "https://u:p@example.com/h", "event_types": ["alert.created"]}), "url"),
        (json!({"name": "x", "url": "ftp://example.com/h", "event_types": ["alert.created"]}), "url"),
        (json!({"name": "x", "url": "https://example.com/h", "event_types": []}), "event_types"),
        (json!({"name": "x", "url": "https://example.com/h", "event_types": ["feedback.any"]}), "event_types"),
        (
            json!({"name": "x", "url": "https://example.com/h", "event_types": ["alert.created"], "format": "xml"}),
            "format",
        ),
        (json!({"name": " ", "url": "https://example.com/h", "event_types": ["alert.created"]}), "name"),
    ] {
        let (status, answer) = api.send(Method::POST, "/v1/webhooks", &admin, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer.to_string().contains(bad_field), "{body}: {answer}");
    }
    let (status, _) = api
        .send(
            Method::POST,
            "/v1/webhooks",
            &admin,
            Some(json!({"name": "x", "url": "https://e.com/h", "event_types": ["alert.created"], "extra": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown keys are refused");

    // Changes; a 410 disabled it; re-activating clears the reason.
    sqlx::query(
        "UPDATE webhooks SET active = false, disabled_reason = 'the endpoint answered 410 Gone' WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&api.state.pg)
    .await
    .expect("disable");
    let (status, changed) = api
        .send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            &admin,
            Some(json!({"format": "slack", "active": true, "event_types": ["alert.updated"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["format"].as_str(), changed["active"].as_bool()), (Some("slack"), Some(true)));
    assert!(changed["disabled_reason"].is_null());
    assert_eq!(changed["event_types"], json!(["alert.updated"]));
    assert_eq!(changed["url"], "https://hooks.example.com/rtcx", "keys not given stay");
    let (status, _) =
        api.send(Method::PATCH, &format!("/v1/webhooks/{id}"), &admin, Some(json!({"url": "http://10.1.2.3/h"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Rotation: a new secret, shown once.
    let (status, rotated) = api.send(Method::POST, &format!("/v1/webhooks/{id}/rotate-secret"), &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = field(&rotated, "secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    // The delivery log, newest first, filtered and paged.
    for (i, status) in ["sent", "pending", "dead"].iter().enumerate() {
        sqlx::query(
            "INSERT INTO notification_deliveries (message_id, destination, channel, webhook_id, event_type, payload, status, attempts, event_at, last_response)
             VALUES ($1, 'webhook:' || $2, 'webhook', $2::uuid, 'alert.created', '{}', $3, $4, now(), 500)",
        )
        .bind(format!("msg_log_{i}"))
        .bind(&id)
        .bind(status)
        .bind(i as i32 + 1)
        .execute(&api.state.pg)
        .await
        .expect("delivery");
    }
    let (status, log) = api.send(Method::GET, &format!("/v1/webhooks/{id}/deliveries"), &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let ids: Vec<&str> = log.as_array().expect("log").iter().filter_map(|d| d["message_id"].as_str()).collect();
    assert_eq!(ids, ["msg_log_2", "msg_log_1", "msg_log_0"]);
    assert!(log[1]["next_attempt_at"].is_string() && log[0]["next_attempt_at"].is_null());
    let (_, dead) = api.send(Method::GET, &format!("/v1/webhooks/{id}/deliveries?status=dead"), &admin, None).await;
    assert_eq!(dead.as_array().map(Vec::len), Some(1));
    assert_eq!(dead[0]["attempts"], 3);
    let before = log[0]["id"].as_i64().expect("id");
    let (_, page) =
        api.send(Method::GET, &format!("/v1/webhooks/{id}/deliveries?limit=1&before={before}"), &admin, None).await;
    assert_eq!(page[0]["message_id"], "msg_log_1");
    for q in ["status=lost", "limit=0", "limit=201", "foo=1"] {
        let (status, _) = api.send(Method::GET, &format!("/v1/webhooks/{id}/deliveries?{q}"), &admin, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
    }

    // Deleting removes the endpoint and its log.
    let (status, _) = api.send(Method::DELETE, &format!("/v1/webhooks/{id}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.send(Method::GET, &format!("/v1/webhooks/{id}"), &admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_deliveries WHERE webhook_id = $1::uuid")
        .bind(&id)
        .fetch_one(&api.state.pg)
        .await
        .expect("count");
    assert_eq!(left, 0);
    let (status, _) = api.send(Method::DELETE, &format!("/v1/webhooks/{id}"), &admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
