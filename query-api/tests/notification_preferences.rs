//! `/v1/auth/me/notification-preferences` against the real Postgres: role defaults, replace,
//! refusals (an unknown time zone among them), digests, and back to the defaults.

mod common;

use common::start;
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use serde_json::json;

const PATH: &str = "/v1/auth/me/notification-preferences";

#[tokio::test]
async fn preferences_default_by_role_and_can_be_replaced_and_reset() {
    let api = start(false, 50).await;
    let (_, manager) = api.logged_in(Role::Manager).await;
    let (_, agent) = api.logged_in(Role::Agent).await;

    let (status, v) = api.get(PATH, &manager).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["role_default"], true);
    assert_eq!(v["preferences"]["alert_min_severity"], "HIGH");
    assert_eq!(v["preferences"]["assignments"], true);
    assert_eq!(
        (&v["preferences"]["digest"], &v["preferences"]["digest_hour"], &v["preferences"]["time_zone"]),
        (&json!("none"), &json!(8), &json!("UTC")),
        "digests are opt-in"
    );
    let (_, v) = api.get(PATH, &agent).await;
    assert_eq!(v["preferences"]["alert_min_severity"], json!(null), "agents get no new-alert mail by default");

    let body = json!({"email_opt_out": false, "alert_min_severity": "MEDIUM", "alert_types": ["SENTIMENT_SPIKE"],
                      "assignments": false, "resolved": true});
    let (status, v) = api.send(Method::PUT, PATH, &agent, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["role_default"], false);
    let (_, v) = api.get(PATH, &agent).await;
    let mut stored = body.clone();
    stored["digest"] = json!("none");
    stored["digest_hour"] = json!(8);
    stored["time_zone"] = json!("UTC");
    assert_eq!(v["preferences"], stored, "stored as sent, the digest fields left out taking their defaults");
    let mut weekly = body.clone();
    weekly["digest"] = json!("weekly");
    weekly["digest_hour"] = json!(7.0);
    weekly["time_zone"] = json!("Europe/Paris");
    let (status, v) = api.send(Method::PUT, PATH, &agent, Some(weekly.clone())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    weekly["digest_hour"] = json!(7);
    assert_eq!(
        api.get(PATH, &agent).await.1["preferences"],
        weekly,
        "a weekly digest at 07:00 in Paris (7.0 is the integer 7, as JSON Schema reads it)"
    );
    assert_eq!(v["role_default"], false);
    // The manager's stay the defaults: preferences are per user.
    assert_eq!(api.get(PATH, &manager).await.1["role_default"], true);

    for (bad, field) in [
        (
            json!({"email_opt_out": false, "alert_min_severity": "URGENT", "alert_types": null, "assignments": true, "resolved": false}),
            "body",
        ),
        (
            json!({"email_opt_out": false, "alert_min_severity": null, "alert_types": [], "assignments": true, "resolved": false}),
            "alert_types",
        ),
        (
            json!({"email_opt_out": false, "alert_min_severity": null, "alert_types": null, "assignments": true, "resolved": false, "digest": "hourly"}),
            "body",
        ),
        (
            json!({"email_opt_out": false, "alert_min_severity": null, "alert_types": null, "assignments": true, "resolved": false, "digest_hour": 24}),
            "digest_hour",
        ),
        (
            json!({"email_opt_out": false, "alert_min_severity": null, "alert_types": null, "assignments": true, "resolved": false, "time_zone": "Mars/Olympus_Mons"}),
            "time_zone",
        ),
        (
            json!({"email_opt_out": false, "alert_min_severity": null, "alert_types": null, "assignments": true, "resolved": false, "digest_frequency": "daily"}),
            "body",
        ),
        (json!({"email_opt_out": false}), "body"),
    ] {
        let (status, v) = api.send(Method::PUT, PATH, &agent, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
        if field != "body" {
            assert!(v["error"]["details"][field].is_string(), "{v}");
        }
    }

    let (status, v) = api.send(Method::DELETE, PATH, &agent, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["role_default"], true);
    assert_eq!(api.get(PATH, &agent).await.1["preferences"]["alert_min_severity"], json!(null));
    assert_eq!(api.get(PATH, &agent).await.1["preferences"]["digest"], "none", "the digest goes with them");

    let resp = api.http.get(format!("{}{PATH}", api.base)).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
