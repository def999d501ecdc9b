//! Webhook deliveries against the real Postgres and real HTTP receivers on loopback: routing,
//! Standard Webhooks signatures checked by an independent implementation, retries with
//! back-off on 5xx and timeouts, 410 disabling the endpoint, permanent failures, dead
//! deliveries, the SSRF guard, claims that never overlap, and `feedback.negative`.
//!
//! The tests of this binary share the delivery queue, so they run one at a time (`take_queue`).

mod common;

use std::time::Duration;

use common::{Receiver, alert, delivery_state, postgres, take_queue, verify_with_python, webhook};
use rtcx_notifier::deliveries::claim;
use rtcx_notifier::dispatch::{DispatchSettings, Senders, round};
use rtcx_notifier::retry::RetryPolicy;
use rtcx_notifier::router::{route_alert, route_negative_feedback};
use rtcx_notifier::webhook::sender::WebhookSender;
use rtcx_notifier::webhook::ssrf::TargetPolicy;
use rtcx_schemas::{AlertChange, AlertStatus, WorkflowChange};
use sqlx::PgPool;
use uuid::Uuid;

fn settings(max_attempts: u32) -> DispatchSettings {
    DispatchSettings {
        batch: 50,
        concurrency: 8,
        idle: Duration::from_millis(20),
        lease: Duration::from_secs(10),
        retry: RetryPolicy { base: Duration::from_millis(100), max: Duration::from_millis(400), max_attempts },
    }
}

fn sender(timeout: Duration) -> Senders {
    let webhook =
        WebhookSender::new(TargetPolicy { allow_private: true }, timeout, Some("https://rtcx.example".into()))
            .expect("sender");
    Senders { webhook, email: None }
}

/// Runs delivery rounds until nothing is pending (panics after `within`).
async fn drain(pg: &PgPool, sender: &Senders, s: &DispatchSettings, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        round(pg, sender, s).await.expect("round");
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_deliveries WHERE status = 'pending'")
            .fetch_one(pg)
            .await
            .expect("pending");
        if pending == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending} deliveries still pending after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_alert_reaches_subscribed_endpoints_signed_once() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let rx = Receiver::start().await;
    let (standard, secret) =
        webhook(&pg, &rx.url("ok/standard"), &["alert.created", "alert.resolved"], "standard").await;
    let (_slack, _) = webhook(&pg, &rx.url("ok/slack"), &["alert.created"], "slack").await;
    let (_other, _) = webhook(&pg, &rx.url("ok/resolved-only"), &["alert.resolved"], "standard").await;

    let event = alert("Negative feedback on email surging");
    let msg = format!("msg_test_{}", Uuid::new_v4().simple());
    let routed = route_alert(&pg, &msg, &event, chrono::Utc::now(), None).await.expect("route");
    assert_eq!((routed.queued, routed.duplicates, routed.muted), (2, 0, false));
    let again = route_alert(&pg, &msg, &event, chrono::Utc::now(), None).await.expect("route again");
    assert_eq!((again.queued, again.duplicates), (0, 2), "an event read twice is queued once");

    let s = settings(3);
    drain(&pg, &sender(Duration::from_secs(5)), &s, Duration::from_secs(10)).await;
    let got = rx.received("ok/standard");
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.header("webhook-id"), msg);
    assert_eq!(r.header("content-type"), "application/json");
    let ts: i64 = r.header("webhook-timestamp").parse().expect("timestamp");
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 30);
    assert!(r.header("webhook-signature").starts_with("v1,"));
    assert!(verify_with_python(&secret, r), "the signature verifies independently");
    let mut tampered = r.clone();
    tampered.body = axum::body::Bytes::from(r.body.iter().rev().copied().collect::<Vec<u8>>());
    assert!(!verify_with_python(&secret, &tampered), "and a changed body does not");
    let body = r.json();
    assert_eq!(body["type"], "alert.created");
    assert_eq!(body["data"]["id"], event.id.to_string());
    assert_eq!(body["data"]["title"], "Negative feedback on email surging");

    let slack = rx.received("ok/slack");
    assert_eq!(slack.len(), 1);
    let text = slack[0].json()["text"].as_str().expect("slack text").to_owned();
    assert!(text.starts_with("*New alert* [HIGH] Negative feedback on email surging"), "{text}");
    assert!(text.contains(&format!("<https://rtcx.example/alerts/{}|Open in rtcx>", event.id)), "{text}");
    assert!(rx.received("ok/resolved-only").is_empty(), "not subscribed to alert.created");
    assert_eq!(delivery_state(&pg, &format!("webhook:{standard}"), &msg).await, ("sent".into(), 1, Some(200), None));

    // Resolving it is alert.resolved, for the endpoints subscribed to that.
    let mut resolved = event.clone();
    resolved.change = AlertChange::StatusChanged;
    resolved.workflow = Some(WorkflowChange {
        by: Uuid::new_v4(),
        status: AlertStatus::Resolved,
        assignee_id: None,
        note: Some("fixed".into()),
    });
    let msg2 = format!("{msg}_resolved");
    assert_eq!(route_alert(&pg, &msg2, &resolved, chrono::Utc::now(), None).await.expect("route").queued, 2);
    drain(&pg, &sender(Duration::from_secs(5)), &s, Duration::from_secs(10)).await;
    assert_eq!(rx.received("ok/resolved-only")[0].json()["type"], "alert.resolved");
    assert_eq!(rx.received("ok/standard").len(), 2);
    assert_eq!(rx.received("ok/slack").len(), 1);
}

#[tokio::test]
async fn backfilled_silenced_and_inactive_are_not_notified() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let rx = Receiver::start().await;
    let (hook, _) = webhook(&pg, &rx.url("ok/muted"), &["alert.created", "alert.updated"], "standard").await;
    for (backfill, silenced) in [(true, false), (false, true)] {
        let mut e = alert("muted");
        e.backfill = backfill;
        e.silenced = silenced;
        let r =
            route_alert(&pg, &format!("msg_{}", Uuid::new_v4()), &e, chrono::Utc::now(), None).await.expect("route");
        assert!(r.muted && r.queued == 0, "backfill {backfill} silenced {silenced}");
    }
    sqlx::query("UPDATE webhooks SET active = false WHERE id = $1").bind(hook).execute(&pg).await.expect("deactivate");
    let r = route_alert(&pg, "msg_inactive", &alert("x"), chrono::Utc::now(), None).await.expect("route");
    assert_eq!((r.queued, r.muted), (0, false), "an inactive endpoint gets nothing");

    // Deactivated after queueing: skipped, not sent.
    sqlx::query("UPDATE webhooks SET active = true WHERE id = $1").bind(hook).execute(&pg).await.expect("activate");
    let msg = format!("msg_{}", Uuid::new_v4());
    assert_eq!(route_alert(&pg, &msg, &alert("x"), chrono::Utc::now(), None).await.expect("route").queued, 1);
    sqlx::query("UPDATE webhooks SET active = false WHERE id = $1").bind(hook).execute(&pg).await.expect("deactivate");
    drain(&pg, &sender(Duration::from_secs(5)), &settings(3), Duration::from_secs(10)).await;
    assert_eq!(delivery_state(&pg, &format!("webhook:{hook}"), &msg).await.0, "skipped");
    assert!(rx.received("ok/muted").is_empty());
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_classified() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let rx = Receiver::start().await;
    let (flaky, _) = webhook(&pg, &rx.url("flaky/2/a"), &["alert.created"], "standard").await;
    let (slow, _) = webhook(&pg, &rx.url("slow/1500/a"), &["alert.created"], "standard").await;
    let (busy, _) = webhook(&pg, &rx.url("busy/a"), &["alert.created"], "standard").await;
    let (gone, _) = webhook(&pg, &rx.url("gone/a"), &["alert.created"], "standard").await;
    let (bad, _) = webhook(&pg, &rx.url("bad/a"), &["alert.created"], "standard").await;
    let (redirect, _) = webhook(&pg, &rx.url("redirect/a"), &["alert.created"], "standard").await;

    let msg = format!("msg_{}", Uuid::new_v4());
    assert_eq!(route_alert(&pg, &msg, &alert("failing"), chrono::Utc::now(), None).await.expect("route").queued, 6);
    // Timeout 500 ms; three attempts at most; back-off 100–400 ms (Retry-After: 1 s caps at 400 ms).
    drain(&pg, &sender(Duration::from_millis(500)), &settings(3), Duration::from_secs(30)).await;

    let flaky_state = delivery_state(&pg, &format!("webhook:{flaky}"), &msg).await;
    assert_eq!((flaky_state.0.as_str(), flaky_state.1, flaky_state.2), ("sent", 3, Some(204)));
    let ids: Vec<String> = rx.received("flaky/2/a").iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids, vec![msg.clone(); 3], "every attempt carries the same idempotency key");
    let stamps: Vec<i64> =
        rx.received("flaky/2/a").iter().map(|r| r.header("webhook-timestamp").parse().expect("ts")).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]));

    let (status, attempts, response, error) = delivery_state(&pg, &format!("webhook:{slow}"), &msg).await;
    assert_eq!((status.as_str(), attempts, response), ("dead", 3, None));
    assert!(error.as_deref().is_some_and(|e| e.contains("timed out")), "{error:?}");

    let (status, attempts, response, error) = delivery_state(&pg, &format!("webhook:{busy}"), &msg).await;
    assert_eq!((status.as_str(), attempts, response), ("dead", 3, Some(503)));
    assert!(error.as_deref().is_some_and(|e| e.starts_with("HTTP 503: receiver says hello")), "{error:?}");

    let (status, attempts, response, _) = delivery_state(&pg, &format!("webhook:{gone}"), &msg).await;
    assert_eq!((status.as_str(), attempts, response), ("failed", 1, Some(410)));
    let (active, reason): (bool, Option<String>) =
        sqlx::query_as("SELECT active, disabled_reason FROM webhooks WHERE id = $1")
            .bind(gone)
            .fetch_one(&pg)
            .await
            .expect("webhook");
    assert!(!active, "410 Gone disables the endpoint");
    assert!(reason.is_some_and(|r| r.contains("410")));

    for (hook, code) in [(bad, 400), (redirect, 307)] {
        let (status, attempts, response, _) = delivery_state(&pg, &format!("webhook:{hook}"), &msg).await;
        assert_eq!((status.as_str(), attempts, response), ("failed", 1, Some(code)), "not retried");
    }
    assert!(rx.received("ok/redirected").is_empty(), "redirects are not followed");

    // The disabled endpoint gets no more deliveries.
    let later = route_alert(&pg, "msg_after_gone", &alert("later"), chrono::Utc::now(), None).await.expect("route");
    assert_eq!(later.queued, 5);
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let rx = Receiver::start().await;
    let (hook, _) = webhook(&pg, &rx.url("ok/private"), &["alert.created"], "standard").await;
    let local = format!("http://localhost:{}/ok/private-by-name", rx.addr.port());
    let (by_name, _) = webhook(&pg, &local, &["alert.created"], "standard").await;
    let msg = format!("msg_{}", Uuid::new_v4());
    route_alert(&pg, &msg, &alert("ssrf"), chrono::Utc::now(), None).await.expect("route");
    let strict = Senders {
        webhook: WebhookSender::new(TargetPolicy { allow_private: false }, Duration::from_secs(2), None)
            .expect("sender"),
        email: None,
    };
    drain(&pg, &strict, &settings(3), Duration::from_secs(10)).await;
    for h in [hook, by_name] {
        let (status, attempts, _, error) = delivery_state(&pg, &format!("webhook:{h}"), &msg).await;
        assert_eq!((status.as_str(), attempts), ("failed", 1));
        assert!(
            error.as_deref().is_some_and(|e| e.contains("target refused") && e.contains("non-public")),
            "{error:?}"
        );
    }
    assert!(rx.received("ok/private").is_empty(), "nothing reached the loopback receiver");
}

#[tokio::test]
async fn concurrent_claims_never_take_the_same_delivery() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let rx = Receiver::start().await;
    webhook(&pg, &rx.url("ok/claims"), &["alert.created"], "standard").await;
    for i in 0..60 {
        route_alert(&pg, &format!("msg_claims_{i}_{}", Uuid::new_v4()), &alert("c"), chrono::Utc::now(), None)
            .await
            .expect("route");
    }
    let other = postgres().await;
    let lease = Duration::from_secs(30);
    let (a, b, c) = tokio::join!(
        claim(&pg, &["webhook"], 25, lease),
        claim(&other, &["webhook"], 25, lease),
        claim(&pg, &["webhook"], 25, lease)
    );
    let mut ids: Vec<i64> = [a, b, c].into_iter().flat_map(|r| r.expect("claim")).map(|d| d.id).collect();
    assert_eq!(ids.len(), 60, "every due delivery claimed");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60, "none claimed twice");
    assert!(claim(&pg, &["webhook"], 25, lease).await.expect("claim").is_empty(), "leased rows are not due");
}

#[tokio::test]
async fn negative_feedback_reaches_the_endpoints_that_take_it() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let rx = Receiver::start().await;
    let (hook, secret) = webhook(&pg, &rx.url("ok/negative"), &["feedback.negative"], "standard").await;
    let (_slack, _) = webhook(&pg, &rx.url("ok/slack-negative"), &["feedback.negative"], "slack").await;
    let (_alerts, _) = webhook(&pg, &rx.url("ok/alerts-only"), &["alert.created"], "standard").await;

    let sub: rtcx_schemas::FeedbackSubmission = serde_json::from_value(
        serde_json::json!({"channel": "chat", "text": "Third time the app logs me out mid-payment"}),
    )
    .expect("submission");
    let e = rtcx_schemas::EnrichedFeedback {
        feedback: rtcx_schemas::FeedbackEvent::from_submission(sub, "test", chrono::Utc::now(), false),
        sentiment: rtcx_schemas::Sentiment {
            label: rtcx_schemas::SentimentLabel::Negative,
            score: -0.88,
            confidence: 0.9,
        },
        emotions: rtcx_schemas::EmotionScores::from_array([0.7, 0.0, 0.0, 0.0, 0.2, 0.1, 0.0]),
        dominant_emotion: rtcx_schemas::Emotion::Anger,
        key_phrases: vec!["app logs".into()],
        topic_ids: vec![],
        topic_reasons: Vec::new(),
        language: "en".into(),
        model: rtcx_schemas::ModelInfo { name: "test".into(), version: "0".into() },
        processed_at: chrono::Utc::now(),
    };
    let msg = format!("msg_feedback_{}", e.feedback.id);
    let routed = route_negative_feedback(&pg, &msg, &e).await.expect("route");
    assert!(routed.queued >= 2, "{routed:?}");
    let again = route_negative_feedback(&pg, &msg, &e).await.expect("route again");
    assert_eq!(again.queued, 0, "a message read twice is queued once");

    drain(&pg, &sender(Duration::from_secs(5)), &settings(3), Duration::from_secs(10)).await;
    let got = rx.received("ok/negative");
    assert_eq!(got.len(), 1);
    assert!(verify_with_python(&secret, &got[0]), "signed like every delivery");
    let body = got[0].json();
    assert_eq!(body["type"], "feedback.negative");
    assert_eq!(body["data"]["id"], e.feedback.id.to_string());
    assert_eq!(body["data"]["text"], "Third time the app logs me out mid-payment");
    assert_eq!(body["data"]["sentiment"]["label"], "negative");
    let slack = rx.received("ok/slack-negative");
    let text = slack[0].json()["text"].as_str().expect("text").to_owned();
    assert!(text.starts_with("*Negative feedback* on chat (-0.88, anger): Third time"), "{text}");
    assert!(rx.received("ok/alerts-only").is_empty(), "not subscribed to feedback.negative");
    assert_eq!(delivery_state(&pg, &format!("webhook:{hook}"), &msg).await.0, "sent");
    // Leave no endpoint taking feedback.negative behind for the other tests.
    sqlx::query("UPDATE webhooks SET active = false WHERE 'feedback.negative' = ANY(event_types)")
        .execute(&pg)
        .await
        .expect("deactivate");
}
