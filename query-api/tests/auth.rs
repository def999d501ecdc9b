//! The authentication flow against the real Postgres, over HTTP: create-admin → login →
//! refresh rotation → reuse detection → logout; wrong credentials, throttling, expired and
//! tampered tokens, registration, password change and reset.

mod common;

use common::{PASSWORD, field, start};
use reqwest::StatusCode;
use rtcx_query_api::auth::Role;
use rtcx_service_kit::testing::unique;
use serde_json::{Value, json};

#[tokio::test]
async fn login_refresh_rotation_reuse_detection_and_logout() {
    let api = start(false, 5).await;
    let email = api.user(Role::Admin).await;

    let (status, body) = api.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["role"], "ADMIN");
    let (access, refresh1) = (field(&body, "access_token").to_owned(), field(&body, "refresh_token").to_owned());
    let claims = api.state.tokens.verify(&access).expect("a valid EdDSA token");
    assert_eq!(claims.role, "ADMIN");

    let (status, me) = api.get("/v1/auth/me", &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["permissions"].as_array().map(Vec::len), Some(9), "an admin may do everything: {me}");
    // Each role is told what the matrix lets it do (the console offers only that).
    for (role, expected) in [
        (Role::Agent, json!(["manage_own_account", "read_analytics", "handle_alerts"])),
        (Role::ApiUser, json!(["manage_own_account", "read_analytics"])),
    ] {
        let (_, token) = api.logged_in(role).await;
        assert_eq!(api.get("/v1/auth/me", &token).await.1["permissions"], expected, "{role:?}");
    }

    // Refresh rotates: a new refresh token, the old one is spent.
    let (status, body) = api.post("/v1/auth/refresh", None, json!({"refresh_token": refresh1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh2 = field(&body, "refresh_token").to_owned();
    let access2 = field(&body, "access_token").to_owned();
    assert_ne!(refresh1, refresh2);

    // Reusing the spent token revokes the whole family: the new refresh token and every access
    // token of the session stop working.
    let (status, body) = api.post("/v1/auth/refresh", None, json!({"refresh_token": refresh1})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("reuse"), "{body}");
    let (status, _) = api.post("/v1/auth/refresh", None, json!({"refresh_token": refresh2})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.get("/v1/auth/me", &access2).await.0, StatusCode::UNAUTHORIZED);

    // A new login; logout ends that session at once.
    let (_, body) = api.login(&email, PASSWORD).await;
    let (access3, refresh3) = (field(&body, "access_token").to_owned(), field(&body, "refresh_token").to_owned());
    let (status, sessions) = api.get("/v1/auth/sessions", &access3).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    assert_eq!(api.post("/v1/auth/logout", Some(&access3), json!({})).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/v1/auth/me", &access3).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.post("/v1/auth/refresh", None, json!({"refresh_token": refresh3})).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_credentials_reveal_nothing_and_are_throttled() {
    let api = start(false, 3).await;
    let email = api.user(Role::Agent).await;
    let (s1, unknown) = api.login("nobody-here@example.com", PASSWORD).await;
    let (s2, wrong) = api.login(&email, "Wrong-Passw0rd!").await;
    assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(unknown, wrong, "same answer for an unknown account and a wrong password");
    for _ in 0..2 {
        api.login(&email, "Wrong-Passw0rd!").await;
    }
    let resp = api
        .http
        .post(format!("{}/v1/auth/login", api.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "locked even with the right password");
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn expired_tampered_and_missing_tokens_are_refused() {
    let api = start(false, 5).await;
    let email = api.user(Role::Manager).await;
    let (_, body) = api.login(&email, PASSWORD).await;
    let access = field(&body, "access_token");
    let claims = api.state.tokens.verify(access).expect("valid");
    let expired = api
        .state
        .tokens
        .issue(claims.sub, "MANAGER", claims.sid, chrono::Utc::now() - chrono::Duration::hours(1))
        .expect("issue");
    assert_eq!(api.get("/v1/auth/me", &expired).await.0, StatusCode::UNAUTHORIZED);
    let mut tampered = access.to_owned();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(api.get("/v1/auth/me", &tampered).await.0, StatusCode::UNAUTHORIZED);
    let resp = api.http.get(format!("{}/v1/auth/me", api.base)).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn registration_is_off_by_default_and_validates_when_on() {
    let closed = start(false, 5).await;
    let (status, _) =
        closed.post("/v1/auth/register", None, json!({"email": "x@example.com", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let open = start(true, 5).await;
    let email = format!("{}@example.com", unique("reg").to_lowercase());
    let (status, body) = open.post("/v1/auth/register", None, json!({"email": email, "password": "short"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "validation_failed");
    assert!(field(&body["error"]["details"], "password").contains("at least 12 characters"), "{body}");
    let (status, body) = open.post("/v1/auth/register", None, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["role"], "AGENT");
    let by_admin: bool = sqlx::query_scalar(
        "SELECT (payload->>'by_admin')::boolean FROM outbox WHERE event_type = 'user_created' AND aggregate_id = $1",
    )
    .bind(body["id"].as_str().expect("id"))
    .fetch_one(&open.state.pg)
    .await
    .expect("a welcome mail is queued through the outbox");
    assert!(!by_admin, "self-registered");
    let (status, _) = open.post("/v1/auth/register", None, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) =
        open.post("/v1/auth/register", None, json!({"email": "not-an-email", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["details"]["email"].is_string());
}

#[tokio::test]
async fn password_change_and_reset_end_other_sessions_and_tokens_are_single_use() {
    let api = start(false, 5).await;
    let email = api.user(Role::Agent).await;
    let (_, a) = api.login(&email, PASSWORD).await;
    let (_, b) = api.login(&email, PASSWORD).await;
    let (access_a, access_b) = (field(&a, "access_token").to_owned(), field(&b, "access_token").to_owned());

    let new_password = "Another-Passw0rd";
    let (status, _) = api
        .post(
            "/v1/auth/change-password",
            Some(&access_a),
            json!({"current_password": "nope", "new_password": new_password}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .post(
            "/v1/auth/change-password",
            Some(&access_a),
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/v1/auth/me", &access_a).await.0, StatusCode::OK, "this session stays");
    assert_eq!(api.get("/v1/auth/me", &access_b).await.0, StatusCode::UNAUTHORIZED, "the other one ends");
    assert_eq!(api.login(&email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);

    // Reset: always 202; the token travels through the outbox.
    let (status, _) = api.post("/v1/auth/password-reset/request", None, json!({"email": "nobody@example.com"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = api.post("/v1/auth/password-reset/request", None, json!({"email": email})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = common::reset_token(&api, &email).await;
    let reset = "Third-Passw0rd!";
    let (status, _) =
        api.post("/v1/auth/password-reset/confirm", None, json!({"token": token, "new_password": reset})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/v1/auth/me", &access_a).await.0, StatusCode::UNAUTHORIZED, "a reset ends every session");
    let (status, _) = api
        .post("/v1/auth/password-reset/confirm", None, json!({"token": token, "new_password": "Fourth-Passw0rd!"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "single use");
    assert_eq!(api.login(&email, reset).await.0, StatusCode::OK);
}

#[tokio::test]
async fn answers_carry_request_ids_security_headers_cors_and_body_limits() {
    let api = start(false, 5).await;
    let resp = api
        .http
        .post(format!("{}/v1/auth/login", api.base))
        .header("x-request-id", "req-42")
        .json(&json!({"email": "nobody@example.com", "password": "x"}))
        .send()
        .await
        .expect("login");
    let h = resp.headers();
    assert_eq!(h["x-request-id"], "req-42");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let generated = api.http.get(format!("{}/v1/auth/me", api.base)).send().await.expect("me");
    assert!(generated.headers().contains_key("x-request-id"), "an id is generated when the client sends none");

    let preflight = api
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/auth/login", api.base))
        .header("origin", "https://dashboard.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://dashboard.example.com");
    let other = api
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/auth/login", api.base))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let big = "x".repeat(rtcx_query_api::app::BODY_LIMIT + 1);
    let resp = api
        .http
        .post(format!("{}/v1/auth/login", api.base))
        .header("content-type", "application/json")
        .body(format!("{{\"email\":\"{big}\",\"password\":\"x\"}}"))
        .send()
        .await
        .expect("big");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = api.post("/v1/auth/login", None, json!({"email": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "malformed_json");
}
