//! `rtcx-query-api demo` (run by `deploy/dev.sh up`): an administrator login and the demo
//! topic catalogue, idempotently; running it again resets the password it prints. The
//! administrator gets a daily digest and keeps the role's alert mail.

mod common;

use std::process::Command;

use axum::http::StatusCode;
use rtcx_service_kit::testing::unique;

fn demo(email: &str, password: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rtcx-query-api"))
        .args(["demo", "--topics", concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/topics.json")])
        .env("RTCX_ADMIN_EMAIL", email)
        .env("RTCX_ADMIN_PASSWORD", password)
        .output()
        .expect("run rtcx-query-api demo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_demo_setup_is_idempotent_and_its_login_works() {
    let api = common::start(false, 5).await;
    let email = format!("{}@rtcx.test", unique("demo-admin"));
    let first = demo(&email, "demo-password-1a2b3c4d");
    assert!(first.contains("created"), "{first}");
    let (status, body) = api.login(&email, "demo-password-1a2b3c4d").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["role"], "ADMIN");
    let first_refresh = body["refresh_token"].as_str().expect("refresh token").to_owned();

    // Again, with another password: no second account, no second catalogue, the new login works.
    let second = demo(&email, "demo-password-5e6f7a8b");
    assert!(second.contains("already existed") && second.contains("0 of 7 demo topics added"), "{second}");
    assert_eq!(api.login(&email, "demo-password-1a2b3c4d").await.0, StatusCode::UNAUTHORIZED);
    // Like any password change, the reset ends the sessions of the old password.
    let (status, _) = api.post("/v1/auth/refresh", None, serde_json::json!({"refresh_token": first_refresh})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = api.login(&email, "demo-password-5e6f7a8b").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();

    // A daily digest from midnight UTC, and the ADMIN defaults for alert mail (HIGH and up).
    let (status, prefs) = api.get("/v1/auth/me/notification-preferences", &token).await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    assert_eq!(prefs["role_default"], false, "{prefs}");
    let p = &prefs["preferences"];
    assert_eq!((&p["digest"], &p["digest_hour"], &p["time_zone"]), (&"daily".into(), &0.into(), &"UTC".into()));
    assert_eq!(
        (&p["alert_min_severity"], &p["assignments"], &p["email_opt_out"]),
        (&"HIGH".into(), &true.into(), &false.into())
    );

    let (status, topics) = api.get("/v1/topics", &token).await;
    assert_eq!(status, StatusCode::OK, "{topics}");
    let text = topics.to_string();
    for name in ["Delivery", "Billing and payments", "Customer support"] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}
