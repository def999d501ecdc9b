//! E-mail against the real Postgres and the real SMTP server of `deploy/dev.sh` (aiosmtpd,
//! whose Maildir the tests read back): who gets an alert mail, both parts and the link; each
//! user's preferences (opt-out, severity and types, resolved notices); SMTP
//! down then back; permanent (550) and transient (451) replies; the password-reset mail
//! claimed from the outbox, its token erased from the outbox and, once sent, from the queue;
//! the welcome mail of a new account; alerts of one rule grouped into one mail; reminders
//! for alerts left open.
//!
//! The tests of this binary share the delivery queue, so they run one at a time (`take_queue`).

mod common;

use std::time::Duration;

use common::{alert, delivery_state, mails_to, postgres, take_queue, user};
use rtcx_notifier::dispatch::{DispatchSettings, Senders, round};
use rtcx_notifier::email::sender::EmailSender;
use rtcx_notifier::retry::RetryPolicy;
use rtcx_notifier::router::{EmailRouting, route_alert};
use rtcx_notifier::webhook::sender::WebhookSender;
use rtcx_notifier::webhook::ssrf::TargetPolicy;
use rtcx_schemas::{AlertChange, AlertSeverity, AlertStatus, WorkflowChange};
use rtcx_service_kit::testing::{env, free_port, unique};
use sqlx::PgPool;
use uuid::Uuid;

const CONSOLE: &str = "https://rtcx.example.com";

fn senders(smtp_url: &str) -> Senders {
    let webhook = WebhookSender::new(TargetPolicy { allow_private: false }, Duration::from_secs(2), None).expect("web");
    let email = EmailSender::new(smtp_url, "rtcx alerts <alerts@rtcx.test>", Duration::from_secs(5)).expect("smtp");
    Senders { webhook, email: Some(email) }
}

fn settings(max_attempts: u32) -> DispatchSettings {
    DispatchSettings {
        batch: 50,
        concurrency: 4,
        idle: Duration::from_millis(20),
        lease: Duration::from_secs(15),
        retry: RetryPolicy { base: Duration::from_millis(100), max: Duration::from_millis(300), max_attempts },
    }
}

async fn pending(pg: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notification_deliveries WHERE status = 'pending'")
        .fetch_one(pg)
        .await
        .expect("pending")
}

async fn drain(pg: &PgPool, senders: &Senders, s: &DispatchSettings) {
    for _ in 0..200 {
        round(pg, senders, s).await.expect("round");
        if pending(pg).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries still pending");
}

#[tokio::test]
async fn high_alerts_mail_admins_managers_and_the_assignee() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let tag = unique("m").to_lowercase();
    let (admin, manager, agent, idle) = (
        format!("admin.{tag}@example.test"),
        format!("manager.{tag}@example.test"),
        format!("agent.{tag}@example.test"),
        format!("idle.{tag}@example.test"),
    );
    user(&pg, &admin, "ADMIN").await;
    user(&pg, &manager, "MANAGER").await;
    let agent_id = user(&pg, &agent, "AGENT").await;
    user(&pg, &idle, "MANAGER").await;
    sqlx::query("UPDATE users SET active = false WHERE email = $1").bind(&idle).execute(&pg).await.expect("deactivate");
    let routing = EmailRouting { console_url: Some(CONSOLE.into()), group_wait: Duration::ZERO };

    let mut e = alert(&format!("Refund complaints surging {tag}"));
    e.severity = AlertSeverity::Critical;
    e.workflow =
        Some(WorkflowChange { by: Uuid::new_v4(), status: AlertStatus::Open, assignee_id: Some(agent_id), note: None });
    let msg = format!("msg_mail_{tag}");
    let routed = route_alert(&pg, &msg, &e, chrono::Utc::now(), Some(&routing)).await.expect("route");
    assert!(routed.queued >= 3, "{routed:?}");
    let mut medium = alert(&format!("Minor wobble {tag}"));
    medium.severity = AlertSeverity::Medium;
    let quiet = route_alert(&pg, &format!("{msg}_medium"), &medium, chrono::Utc::now(), Some(&routing)).await;
    assert_eq!(quiet.expect("route").queued, 0, "MEDIUM alerts are not mailed");

    drain(&pg, &senders(&env("RTCX_SMTP_URL")), &settings(3)).await;
    for (to, reason) in
        [(&admin, "an ADMIN of rtcx"), (&manager, "a MANAGER of rtcx"), (&agent, "the alert's assignee")]
    {
        let mails = mails_to(to);
        assert_eq!(mails.len(), 1, "{to}: {mails:?}");
        let m = &mails[0];
        assert_eq!(m.subject, format!("[rtcx] New alert: CRITICAL Refund complaints surging {tag}"));
        assert_eq!(m.content_type, "multipart/alternative");
        assert!(m.message_id.starts_with(&format!("<{msg}.")), "{}", m.message_id);
        assert!(m.text.contains(reason), "{to}: {}", m.text);
        assert!(m.text.contains(&format!("{CONSOLE}/alerts/{}", e.id)), "{}", m.text);
        assert!(m.html.contains(&format!("href=\"{CONSOLE}/alerts/{}\"", e.id)), "{}", m.html);
        assert!(m.text.contains("negative_count = 48.0 (expected 12.0)"), "{}", m.text);
        assert_eq!(delivery_state(&pg, &format!("email:{to}"), &msg).await.0, "sent");
    }
    assert!(mails_to(&idle).is_empty(), "deactivated users get nothing");

    // Assigning it to someone else mails them; assigning oneself does not.
    let mut assigned = e.clone();
    assigned.change = AlertChange::Assigned;
    let by = Uuid::new_v4();
    assigned.workflow =
        Some(WorkflowChange { by, status: AlertStatus::InProgress, assignee_id: Some(agent_id), note: None });
    let r = route_alert(&pg, &format!("{msg}_assigned"), &assigned, chrono::Utc::now(), Some(&routing)).await;
    assert_eq!(r.expect("route").queued, 1);
    assigned.workflow =
        Some(WorkflowChange { by: agent_id, status: AlertStatus::InProgress, assignee_id: Some(agent_id), note: None });
    let r = route_alert(&pg, &format!("{msg}_took"), &assigned, chrono::Utc::now(), Some(&routing)).await;
    assert_eq!(r.expect("route").queued, 0, "taking an alert oneself sends no mail");
    drain(&pg, &senders(&env("RTCX_SMTP_URL")), &settings(3)).await;
    let mails = mails_to(&agent);
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().any(|m| m.subject.starts_with("[rtcx] Alert assigned to you: CRITICAL")), "{mails:?}");
}

#[tokio::test]
async fn preferences_choose_who_gets_which_mail() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let tag = unique("p").to_lowercase();
    let (admin, opted_out, agent) =
        (format!("admin.{tag}@example.test"), format!("out.{tag}@example.test"), format!("agent.{tag}@example.test"));
    user(&pg, &admin, "ADMIN").await;
    let out_id = user(&pg, &opted_out, "MANAGER").await;
    let agent_id = user(&pg, &agent, "AGENT").await;
    sqlx::query("INSERT INTO notification_preferences (user_id, email_opt_out) VALUES ($1, true)")
        .bind(out_id)
        .execute(&pg)
        .await
        .expect("opt out");
    sqlx::query(
        "INSERT INTO notification_preferences (user_id, alert_min_severity, alert_types, resolved) \
         VALUES ($1, 'MEDIUM', '{SENTIMENT_SPIKE}', true)",
    )
    .bind(agent_id)
    .execute(&pg)
    .await
    .expect("opt in");
    let routing = EmailRouting { console_url: Some(CONSOLE.into()), group_wait: Duration::ZERO };

    // A MEDIUM spike: only the agent who asked for MEDIUM spikes (the admin's default is HIGH).
    let mut medium = alert(&format!("Checkout wobble {tag}"));
    medium.severity = AlertSeverity::Medium;
    medium.alert_type = rtcx_schemas::AlertType::SentimentSpike;
    let msg = format!("msg_prefs_{tag}");
    route_alert(&pg, &msg, &medium, chrono::Utc::now(), Some(&routing)).await.expect("route");
    // A HIGH alert of another type: the admin by default, not the agent (type), not the opted out.
    let mut volume = alert(&format!("Volume of complaints {tag}"));
    volume.severity = AlertSeverity::High;
    volume.alert_type = rtcx_schemas::AlertType::HighVolumeNegative;
    route_alert(&pg, &format!("{msg}_volume"), &volume, chrono::Utc::now(), Some(&routing)).await.expect("route");
    // The MEDIUM spike resolved: a notice for the agent (resolved notices on), none for the admin.
    let mut resolved = medium.clone();
    resolved.change = AlertChange::StatusChanged;
    resolved.workflow = Some(WorkflowChange {
        by: Uuid::new_v4(),
        status: AlertStatus::Resolved,
        assignee_id: None,
        note: Some("Payment provider fixed".into()),
    });
    route_alert(&pg, &format!("{msg}_resolved"), &resolved, chrono::Utc::now(), Some(&routing)).await.expect("route");
    drain(&pg, &senders(&env("RTCX_SMTP_URL")), &settings(3)).await;

    let subjects = |to: &str| {
        let mut s: Vec<String> = mails_to(to).into_iter().map(|m| m.subject).collect();
        s.sort();
        s
    };
    assert_eq!(
        subjects(&agent),
        [
            format!("[rtcx] Alert resolved: MEDIUM Checkout wobble {tag}"),
            format!("[rtcx] New alert: MEDIUM Checkout wobble {tag}"),
        ]
    );
    assert!(mails_to(&agent).iter().any(|m| m.text.contains("your notification preferences")));
    assert_eq!(subjects(&admin), [format!("[rtcx] New alert: HIGH Volume of complaints {tag}")]);
    assert!(mails_to(&opted_out).is_empty(), "opted out");
    // Leave no opted-in user behind for the other tests of the shared database.
    sqlx::query("UPDATE users SET active = false WHERE id = ANY($1)")
        .bind(vec![out_id, agent_id])
        .execute(&pg)
        .await
        .expect("deactivate");
}

#[tokio::test]
async fn welcome_mails_come_from_the_outbox() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let to = format!("new.{}@example.test", unique("w").to_lowercase());
    let outbox_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
         VALUES ('user', $1, 'user_created', $2) RETURNING id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(serde_json::json!({"email": to, "display_name": "Noor Haddad", "role": "AGENT", "by_admin": true}))
    .fetch_one(&pg)
    .await
    .expect("outbox");
    for _ in 0..20 {
        rtcx_notifier::account_mail::round(&pg, CONSOLE).await.expect("round");
        let published: bool = sqlx::query_scalar("SELECT published_at IS NOT NULL FROM outbox WHERE id = $1")
            .bind(outbox_id)
            .fetch_one(&pg)
            .await
            .expect("row");
        if published {
            break;
        }
    }
    drain(&pg, &senders(&env("RTCX_SMTP_URL")), &settings(3)).await;
    let mails = mails_to(&to);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].subject, "[rtcx] Welcome to rtcx, Noor Haddad");
    assert!(mails[0].text.contains("role AGENT"), "{}", mails[0].text);
    assert!(mails[0].text.contains(&format!("Sign in: {CONSOLE}/")), "{}", mails[0].text);
    assert!(mails[0].html.contains(&format!("href=\"{CONSOLE}/\"")), "{}", mails[0].html);
    assert_eq!(delivery_state(&pg, &format!("email:{to}"), &format!("msg_user_{outbox_id}")).await.0, "sent");
}

#[tokio::test]
async fn alerts_of_one_rule_within_the_group_wait_are_one_mail() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let tag = unique("g").to_lowercase();
    let manager = format!("manager.{tag}@example.test");
    user(&pg, &manager, "MANAGER").await;
    let routing = EmailRouting { console_url: Some(CONSOLE.into()), group_wait: Duration::from_secs(2) };
    let s = settings(3);
    let smtp = senders(&env("RTCX_SMTP_URL"));

    // Three alerts of one rule (email, chat, web) and one of another, raised together.
    let mut ids = Vec::new();
    for (i, channel) in ["email", "chat", "web"].into_iter().enumerate() {
        let mut e = alert(&format!("Negative volume on {channel} {tag}"));
        e.dimension = [("channel".to_string(), channel.to_string())].into();
        e.severity = if i == 0 { AlertSeverity::Critical } else { AlertSeverity::High };
        ids.push(e.id);
        route_alert(&pg, &format!("msg_group_{tag}_{i}"), &e, chrono::Utc::now(), Some(&routing)).await.expect("route");
    }
    let mut other = alert(&format!("Sentiment spike on email {tag}"));
    other.rule = Some("channel_negative_share".into());
    route_alert(&pg, &format!("msg_group_{tag}_other"), &other, chrono::Utc::now(), Some(&routing))
        .await
        .expect("route");

    // Nothing leaves during the group wait.
    round(&pg, &smtp, &s).await.expect("round");
    assert!(mails_to(&manager).is_empty(), "the group waits");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    drain(&pg, &smtp, &s).await;

    let mut mails = mails_to(&manager);
    mails.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(mails.len(), 2, "one mail per rule: {:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let group =
        mails.iter().find(|m| m.subject.starts_with("[rtcx] 3 new alerts of channel_negative_volume")).expect("group");
    for channel in ["email", "chat", "web"] {
        assert!(group.text.contains(&format!("Negative volume on {channel} {tag}")), "{}", group.text);
    }
    for id in &ids {
        assert!(group.text.contains(&format!("{CONSOLE}/alerts/{id}")), "{}", group.text);
        assert!(group.html.contains(&format!("href=\"{CONSOLE}/alerts/{id}\"")), "{}", group.html);
    }
    assert!(mails.iter().any(|m| m.subject == format!("[rtcx] New alert: HIGH Sentiment spike on email {tag}")));
    // The first delivery carried the group; the two others point at it.
    let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT message_id, status, grouped_into FROM notification_deliveries
         WHERE destination = $1 AND message_id LIKE $2 ORDER BY id",
    )
    .bind(format!("email:{manager}"))
    .bind(format!("msg_group_{tag}_%"))
    .fetch_all(&pg)
    .await
    .expect("rows");
    let statuses: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(statuses, ["sent", "grouped", "grouped", "sent"], "{rows:?}");
    let first: i64 =
        sqlx::query_scalar("SELECT id FROM notification_deliveries WHERE destination = $1 AND message_id = $2")
            .bind(format!("email:{manager}"))
            .bind(format!("msg_group_{tag}_0"))
            .fetch_one(&pg)
            .await
            .expect("first");
    assert!(rows[1..3].iter().all(|r| r.2 == Some(first)));
}

#[tokio::test]
async fn alerts_left_open_are_mailed_again_after_the_repeat_interval() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let tag = unique("r").to_lowercase();
    let manager = format!("manager.{tag}@example.test");
    user(&pg, &manager, "MANAGER").await;
    let routing = EmailRouting { console_url: Some(CONSOLE.into()), group_wait: Duration::ZERO };
    // Raised 61 minutes ago: one that nobody took, one that somebody is working on.
    let (open_id, taken_id) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, status, title) in [(open_id, "OPEN", "Refunds stuck"), (taken_id, "IN_PROGRESS", "Login failures")] {
        sqlx::query(
            "INSERT INTO alerts (id, alert_type, severity, status, title, window_start, window_end, metric, observed, baseline,
                                 created_at)
             VALUES ($1, 'SENTIMENT_SPIKE', 'HIGH', $2, $3, now() - interval '70 minutes', now() - interval '65 minutes',
                     'negative_share', 0.5, 0.2, now() - interval '61 minutes')",
        )
        .bind(id)
        .bind(status)
        .bind(format!("{title} {tag}"))
        .execute(&pg)
        .await
        .expect("alert");
    }
    let hour = Duration::from_secs(3600);
    let queued = rtcx_notifier::reminders::round(&pg, &routing, hour).await.expect("round");
    assert!(queued >= 1, "{queued}");
    rtcx_notifier::reminders::round(&pg, &routing, hour).await.expect("round again");
    let reminders: Vec<String> = sqlx::query_scalar(
        "SELECT message_id FROM notification_deliveries WHERE destination = $1 AND message_id LIKE 'msg_remind_%'",
    )
    .bind(format!("email:{manager}"))
    .fetch_all(&pg)
    .await
    .expect("reminders");
    let of = |id: Uuid| reminders.iter().filter(|m| m.starts_with(&format!("msg_remind_{id}_"))).count();
    assert_eq!(of(open_id), 1, "one reminder per interval, however many rounds: {reminders:?}");
    assert_eq!(of(taken_id), 0, "an alert somebody took is not reminded of");
    assert!(reminders.contains(&format!("msg_remind_{open_id}_1")), "{reminders:?}");
    drain(&pg, &senders(&env("RTCX_SMTP_URL")), &settings(3)).await;
    let mails: Vec<_> = mails_to(&manager).into_iter().filter(|m| m.subject.contains(&tag)).collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].subject, format!("[rtcx] Still open: HIGH Refunds stuck {tag}"));
    assert!(mails[0].text.contains(&format!("{CONSOLE}/alerts/{open_id}")), "{}", mails[0].text);
    // Nobody is reminded of them again in later tests.
    sqlx::query("UPDATE alerts SET status = 'RESOLVED' WHERE id = ANY($1)")
        .bind(vec![open_id, taken_id])
        .execute(&pg)
        .await
        .expect("resolve");
}

#[tokio::test]
async fn smtp_outages_and_refusals_are_handled_by_reply() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let tag = unique("s").to_lowercase();
    let ok = format!("ok.{tag}@example.test");
    let rejected = format!("nobody.{tag}@reject.invalid");
    let deferred = format!("later.{tag}@defer.invalid");
    let routing = EmailRouting { console_url: Some(CONSOLE.into()), group_wait: Duration::ZERO };
    for to in [&ok, &rejected, &deferred] {
        user(&pg, to, "MANAGER").await;
    }
    let mut e = alert(&format!("SMTP check {tag}"));
    e.severity = AlertSeverity::High;
    let msg = format!("msg_smtp_{tag}");
    route_alert(&pg, &msg, &e, chrono::Utc::now(), Some(&routing)).await.expect("route");

    // The server is down (nothing listens there): every mail waits to be retried.
    let down = senders(&format!("smtp://127.0.0.1:{}", free_port()));
    round(&pg, &down, &settings(4)).await.expect("round");
    let (status, attempts, _, error) = delivery_state(&pg, &format!("email:{ok}"), &msg).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(error.is_some_and(|e| !e.is_empty()));
    assert!(mails_to(&ok).is_empty());

    // It is back: the mail arrives; 550 fails for good; 451 is retried until dead.
    tokio::time::sleep(Duration::from_millis(400)).await;
    drain(&pg, &senders(&env("RTCX_SMTP_URL")), &settings(4)).await;
    assert_eq!(delivery_state(&pg, &format!("email:{ok}"), &msg).await.0, "sent");
    assert_eq!(mails_to(&ok).len(), 1);
    let (status, attempts, reply, error) = delivery_state(&pg, &format!("email:{rejected}"), &msg).await;
    assert_eq!((status.as_str(), attempts, reply), ("failed", 2, Some(550)));
    assert!(error.is_some_and(|e| e.contains("Mailbox unavailable")));
    let (status, attempts, reply, _) = delivery_state(&pg, &format!("email:{deferred}"), &msg).await;
    assert_eq!((status.as_str(), attempts, reply), ("dead", 4, Some(451)));
    for to in [&ok, &rejected, &deferred] {
        sqlx::query("UPDATE users SET active = false WHERE email = $1").bind(to).execute(&pg).await.expect("retire");
    }
}

#[tokio::test]
async fn password_reset_mails_come_from_the_outbox_and_forget_the_token() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let tag = unique("r").to_lowercase();
    let to = format!("reset.{tag}@example.test");
    let token = format!("tok-{tag}");
    let expires_at = chrono::Utc::now() + chrono::Duration::minutes(30);
    let outbox_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
         VALUES ('user', $1, 'password_reset_requested', $2) RETURNING id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(serde_json::json!({"email": to, "token": token, "expires_at": expires_at}))
    .fetch_one(&pg)
    .await
    .expect("outbox");
    let expired_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
         VALUES ('user', $1, 'password_reset_requested', $2) RETURNING id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(serde_json::json!({"email": format!("late.{tag}@example.test"), "token": "old",
                             "expires_at": chrono::Utc::now() - chrono::Duration::minutes(1)}))
    .fetch_one(&pg)
    .await
    .expect("outbox");

    let mut queued = 0;
    for _ in 0..20 {
        queued += rtcx_notifier::account_mail::round(&pg, CONSOLE).await.expect("round");
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE id = ANY($1) AND published_at IS NULL")
            .bind(vec![outbox_id, expired_id])
            .fetch_one(&pg)
            .await
            .expect("left");
        if left == 0 {
            break;
        }
    }
    assert!(queued >= 1);
    for id in [outbox_id, expired_id] {
        let (payload, error): (serde_json::Value, Option<String>) =
            sqlx::query_as("SELECT payload, last_error FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_one(&pg)
                .await
                .expect("outbox row");
        assert!(payload.get("token").is_none(), "the token is erased from the outbox: {payload}");
        assert_eq!(error.is_some(), id == expired_id, "{error:?}");
    }
    let msg = format!("msg_user_{outbox_id}");
    let stored: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM notification_deliveries WHERE message_id = $1")
            .bind(&msg)
            .fetch_one(&pg)
            .await
            .expect("queued");
    assert!(stored["text"].as_str().is_some_and(|t| t.contains(&token)), "the queued mail carries the link");

    drain(&pg, &senders(&env("RTCX_SMTP_URL")), &settings(3)).await;
    let mails = mails_to(&to);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "[rtcx] Reset your password");
    assert!(mails[0].text.contains(&format!("{CONSOLE}/reset-password?token={token}")), "{}", mails[0].text);
    assert!(mails[0].html.contains(&format!("{CONSOLE}/reset-password?token={token}")));
    let (status, payload): (String, serde_json::Value) =
        sqlx::query_as("SELECT status, payload FROM notification_deliveries WHERE message_id = $1")
            .bind(&msg)
            .fetch_one(&pg)
            .await
            .expect("sent");
    assert_eq!(status, "sent");
    assert_eq!(payload, serde_json::json!({"erased": true}), "the link is gone from the queue once sent");
    assert!(mails_to(&format!("late.{tag}@example.test")).is_empty(), "an expired request is not mailed");
}
