//! `/v1/auth/me/notification-preferences` against the real Postgres: role defaults, replace,
//! refusals, and back to the defaults.

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
    let (_, v) = api.get(PATH, &agent).await;
    assert_eq!(v["preferences"]["alert_min_severity"], json!(null), "agents get no new-alert mail by default");

    let body = json!({"email_opt_out": false, "alert_min_severity": "MEDIUM", "alert_types": ["SENTIMENT_SPIKE"],
                      "assignments": false, "resolved": true});
    let (status, v) = api.send(Method::PUT, PATH, &agent, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["role_default"], false);
    let (_, v) = api.get(PATH, &agent).await;
    assert_eq!(v["preferences"], body, "stored as sent");
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
            json!({"email_opt_out": false, "alert_min_severity": null, "alert_types": null, "assignments": true, "resolved": false, "digest": "daily"}),
            "body",
        ),
        (json!({"email_opt_out": false}), "body"),
    ] {
        let (status, v) = api.send(Method::PUT, PATH, &agent, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
        if field == "alert_types" {
            assert!(v["error"]["details"]["alert_types"].is_string(), "{v}");
        }
    }

    let (status, v) = api.send(Method::DELETE, PATH, &agent, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["role_default"], true);
    assert_eq!(api.get(PATH, &agent).await.1["preferences"]["alert_min_severity"], json!(null));

    let resp = api.http.get(format!("{}{PATH}", api.base)).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
