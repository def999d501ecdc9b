//! Saved dashboards over HTTP against the real Postgres: each user's own, validated.

mod common;

use common::{field, start};
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use serde_json::json;

#[tokio::test]
async fn users_keep_their_own_dashboards() {
    let api = start(false, 50).await;
    let (_, ann) = api.logged_in(Role::Agent).await;
    let (_, bob) = api.logged_in(Role::Manager).await;
    let body =
        json!({"name": "Complaints", "layout": {"widgets": ["overview", "trend"]}, "filters": {"channel": "email"}});
    let (status, d) = api.send(Method::POST, "/v1/dashboards", &ann, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = field(&d, "id").to_owned();
    assert_eq!(d["layout"]["widgets"][1], "trend");
    assert_eq!(api.send(Method::POST, "/v1/dashboards", &ann, Some(body.clone())).await.0, StatusCode::CONFLICT);
    let (status, bad) = api.send(Method::POST, "/v1/dashboards", &ann, Some(json!({"name": "", "layout": [1]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["error"]["details"]["name"].is_string() && bad["error"]["details"]["layout"].is_string());

    // Bob sees none of Ann's and cannot touch them.
    let (_, bobs) = api.send(Method::GET, "/v1/dashboards", &bob, None).await;
    assert_eq!(bobs.as_array().map(Vec::len), Some(0));
    assert_eq!(api.send(Method::GET, &format!("/v1/dashboards/{id}"), &bob, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.send(Method::DELETE, &format!("/v1/dashboards/{id}"), &bob, None).await.0, StatusCode::NOT_FOUND);

    let (status, updated) = api
        .send(
            Method::PUT,
            &format!("/v1/dashboards/{id}"),
            &ann,
            Some(json!({"name": "Email complaints", "filters": {"channel": "email", "range": "7d"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Email complaints");
    assert_eq!(updated["layout"], json!({}), "PUT replaces the whole dashboard");
    let (_, mine) = api.send(Method::GET, "/v1/dashboards", &ann, None).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(api.send(Method::DELETE, &format!("/v1/dashboards/{id}"), &ann, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.send(Method::GET, &format!("/v1/dashboards/{id}"), &ann, None).await.0, StatusCode::NOT_FOUND);
}
