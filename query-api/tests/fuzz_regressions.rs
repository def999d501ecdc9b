//! Regression tests for the defects an outside fuzzing campaign (Schemathesis against the
//! OpenAPI document) found: each request below answered 500, or answered 2xx for input the
//! document says is refused. Real Postgres and ClickHouse.

mod common;

use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use serde_json::{Value, json};

/// A 400 `validation_failed` whose details name `field`.
fn assert_names_field(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    assert!(body["error"]["details"][field].is_string(), "details should name {field}: {body}");
}

#[tokio::test]
async fn a_nul_character_anywhere_is_a_400_naming_the_field() {
    let (api, database) = common::start_with_clickhouse().await;
    let (_, admin) = api.logged_in(Role::Admin).await;
    let nul = "a\u{0}b";

    // Unauthenticated endpoints.
    let (status, body) = api.post("/v1/auth/login", None, json!({"email": "x\u{0}@e.com", "password": "x"})).await;
    assert_names_field(status, &body, "email");
    let (status, body) = api.post("/v1/auth/password-reset/request", None, json!({"email": "x\u{0}@e.com"})).await;
    assert_names_field(status, &body, "email");

    // Bodies: topics, dashboards (also nested in the layout), API keys, users.
    for (method, path, body, field) in [
        (Method::POST, "/v1/topics", json!({"name": nul}), "name"),
        (Method::POST, "/v1/topics", json!({"name": "ok", "description": nul}), "description"),
        (Method::POST, "/v1/topics", json!({"name": "ok", "keywords": ["fine", nul]}), "keywords[1]"),
        (Method::POST, "/v1/topics", json!({"name": "ok", "category": nul}), "category"),
        (Method::POST, "/v1/dashboards", json!({"name": nul}), "name"),
        (Method::POST, "/v1/dashboards", json!({"name": "d", "layout": {"w": [{"kind": nul}]}}), "layout.w[0].kind"),
        (Method::POST, "/v1/dashboards", json!({"name": "d", "filters": {"q": nul}}), "filters.q"),
        (Method::POST, "/v1/api-keys", json!({"name": nul, "source": "crm", "scopes": ["ingest"]}), "name"),
        (
            Method::POST,
            "/v1/users",
            json!({"email": "n\u{0}@example.com", "password": common::PASSWORD, "display_name": "N", "role": "AGENT"}),
            "email",
        ),
    ] {
        let (status, answer) = api.send(method, path, &admin, Some(body)).await;
        assert_names_field(status, &answer, field);
    }
    let (_, me) = api.send(Method::GET, "/v1/auth/me", &admin, None).await;
    let me_id = common::field(&me, "id").to_owned();
    let (status, body) =
        api.send(Method::PATCH, &format!("/v1/users/{me_id}"), &admin, Some(json!({"display_name": nul}))).await;
    assert_names_field(status, &body, "display_name");

    // Query parameters, percent-encoded.
    for (path, field) in [
        ("/v1/topics?q=a%00b", "query.q"),
        ("/v1/topics?category=%00", "query.category"),
        ("/v1/users?q=%00", "query.q"),
        ("/v1/feedback?customer_id=%01", "query.customer_id"),
    ] {
        let (status, body) = api.send(Method::GET, path, &admin, None).await;
        assert_names_field(status, &body, field);
    }

    // Line breaks stay allowed in free text.
    let (status, topic) = api
        .send(
            Method::POST,
            "/v1/topics",
            &admin,
            Some(json!({"name": rtcx_service_kit::testing::unique("multi-line"), "description": "one\ntwo"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{topic}");
    common::drop_clickhouse(&database).await;
}

#[tokio::test]
async fn a_dashboard_that_cannot_be_read_back_is_never_written() {
    let api = common::start(false, 50).await;
    let (_, user) = api.logged_in(Role::Agent).await;
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/dashboards",
            &user,
            Some(json!({"name": "x", "layout": {"a": 1.797_693_134_862_315_7e308}})),
        )
        .await;
    assert_names_field(status, &body, "layout.a");
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/dashboards",
            &user,
            Some(json!({"name": "y", "filters": {"n": [1, 9_007_199_254_740_993_u64]}})),
        )
        .await;
    assert_names_field(status, &body, "filters.n[1]");
    let (status, list) = api.send(Method::GET, "/v1/dashboards", &user, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(0), "nothing was stored: {list}");

    // A row that an earlier version did store (written here behind the API's back) no longer
    // breaks the owner's list or its own read.
    let (status, good) =
        api.send(Method::POST, "/v1/dashboards", &user, Some(json!({"name": "good", "layout": {"w": 2.5}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{good}");
    let (_, me) = api.send(Method::GET, "/v1/auth/me", &user, None).await;
    let user_id: uuid::Uuid = common::field(&me, "id").parse().expect("uuid");
    let bad_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO saved_dashboards (user_id, name, layout) VALUES ($1, 'legacy', '{\"a\": 1.7976931348623157e308}') RETURNING id",
    )
    .bind(user_id)
    .fetch_one(&api.state.pg)
    .await
    .expect("legacy row");
    let (status, list) = api.send(Method::GET, "/v1/dashboards", &user, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert!(list.iter().any(|d| d["name"] == "good" && d["layout"]["w"] == 2.5), "{list:?}");
    let (status, one) = api.send(Method::GET, &format!("/v1/dashboards/{bad_id}"), &user, None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert!(one["layout"].is_object());
}

#[tokio::test]
async fn export_takes_the_same_numeric_filters_as_search() {
    let (api, database) = common::start_with_clickhouse().await;
    let (_, token) = api.logged_in(Role::Manager).await;
    for filters in [
        "min_score=0.5",
        "max_score=-0.25",
        "limit=10",
        "min_score=2.225073858507e-311",
        "min_score=-1&max_score=1&limit=3&range=7d",
    ] {
        let (status, body) = api.send(Method::GET, &format!("/v1/feedback?{filters}"), &token, None).await;
        assert_eq!(status, StatusCode::OK, "search {filters}: {body}");
        let resp = api
            .http
            .get(format!("{}/v1/feedback/export?format=csv&{filters}", api.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("export");
        assert_eq!(resp.status(), StatusCode::OK, "export {filters}");
    }
    // And refuses the same bad ones, naming the same fields (limits differ: 200 rows a page,
    // 1 000 000 an export).
    for filters in
        ["min_score=2", "limit=0", "limit=x", "min_score=-1.0000000000000002", "max_score=1.0000000000000002"]
    {
        let (status, search) = api.send(Method::GET, &format!("/v1/feedback?{filters}"), &token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filters}");
        let (status, export) =
            api.send(Method::GET, &format!("/v1/feedback/export?format=csv&{filters}"), &token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filters}");
        let fields = |v: &Value| v["error"]["details"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>());
        assert_eq!(fields(&search), fields(&export), "{filters}: the same fields are named");
    }
    common::drop_clickhouse(&database).await;
}

/// The email pattern the document publishes accepts exactly what the server accepts (within
/// the character rule every request passes first).
#[test]
fn the_published_email_pattern_is_the_servers_rule() {
    use rtcx_query_api::auth::handlers::{EMAIL_PATTERN, normalize_email};
    use rtcx_schemas::text::{TextKind, first_forbidden};
    let validator =
        jsonschema::validator_for(&json!({"type": "string", "pattern": EMAIL_PATTERN})).expect("pattern compiles");
    for s in [
        "ana@example.com",
        " Ana@Example.com\n",
        "a@b.c",
        "a@b.",
        "a@.b",
        "a@b",
        "@b.c",
        "a b@c.d",
        "a@b .c",
        "a@@b.c",
        "a@b@c.d",
        "\u{2003}a@b.c\u{3000}",
        "a\u{0}@b.c",
        "a@b.c\u{1c}",
        "\u{85}a@b.c",
        "é@ü.de",
        "a@b.c d",
        "",
        "   ",
        "a@b\t.c",
        "a\u{a0}@b.c",
        "a\u{2003}b@c.d",
        "a@b.c\u{1680}d",
        "a@b\u{3000}.c",
    ] {
        let server = first_forbidden(s, TextKind::MultiLine).is_none() && normalize_email(s).is_ok();
        assert_eq!(validator.is_valid(&json!(s)), server, "{s:?}");
    }
}

/// A one-day range in the year 3537, by the hour, wrapped around ClickHouse's `DateTime` and
/// made it "fill" a trend from 1970 to 2106 by the hour, which took the server down.
#[tokio::test]
async fn times_past_what_clickhouse_holds_are_refused() {
    let (api, database) = common::start_with_clickhouse().await;
    let (_, token) = api.logged_in(Role::Manager).await;
    for path in [
        "/v1/dashboard/sentiment-trend?interval=hour&from=3537-01-28T11:26:14Z&to=3537-01-29T11:26:14Z",
        "/v1/dashboard/overview?from=1969-12-31T00:00:00Z&to=1970-01-01T00:00:00Z",
        "/v1/feedback?from=2100-01-01T00:00:00Z&to=2100-01-02T00:00:00Z",
    ] {
        let (status, body) = api.send(Method::GET, path, &token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    let (status, trend) = api
        .send(
            Method::GET,
            "/v1/dashboard/sentiment-trend?interval=hour&from=2099-12-30T00:00:00Z&to=2099-12-31T00:00:00Z",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trend}");
    assert_eq!(trend.as_array().map(Vec::len), Some(24), "one point an hour: {trend}");
    common::drop_clickhouse(&database).await;
}
