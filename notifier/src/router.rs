//! Which alert events become which deliveries.
//!
//! - `RAISED` is `alert.created`; a person resolving or dismissing an alert
//!   (`STATUS_CHANGED` to `RESOLVED` or `DISMISSED`) is `alert.resolved`; every other change
//!   (a new peak, the condition clearing, re-opening, assignment, severity, comments) is
//!   `alert.updated`, with the change in `data.change`.
//! - Backfilled and silenced alerts are never notified (`AlertEvent::notify`).
//! - A negative message of the enriched topic is `feedback.negative`, for the endpoints that
//!   take it (webhooks only).
//! - Every active endpoint subscribed to the type gets one delivery, all with the same
//!   `message_id`, in one transaction.
//! - E-mail (when SMTP is configured), by each active user's preferences (role defaults in
//!   [`NotificationPreferences::role_default`]; nothing to those who opted out): a new or
//!   reopened alert to those whose severity and types cover it, and to its assignee; an
//!   assignment to the assignee (unless self-assigned); a resolved or dismissed alert to those
//!   who asked for resolved notices and were covered (or are the assignee). Same transaction,
//!   same `message_id`.

use chrono::{DateTime, Utc};
use rtcx_schemas::notifications::{NotificationPreferences, PreferenceColumns};
use rtcx_schemas::{AlertChange, AlertEvent, AlertStatus};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::deliveries::{NewDelivery, Target, enqueue};
use crate::email::render;
use crate::webhook::format::standard;

/// E-mail routing settings (absent: no e-mail is queued).
#[derive(Debug, Clone, Default)]
pub struct EmailRouting {
    /// Public URL of the console, for links.
    pub console_url: Option<String>,
    /// How long a new-alert mail waits for others of its rule to the same address
    /// (`--group-wait-secs`).
    pub group_wait: std::time::Duration,
}

/// The group of a new-alert mail: its rule (alerts raised by hand: their type).
pub fn group_key(e: &AlertEvent) -> String {
    format!("alert:{}", e.rule.as_deref().unwrap_or(e.alert_type.as_str()))
}

/// An active user and the e-mail preferences in force for them.
struct Reader {
    id: Uuid,
    email: String,
    role: String,
    prefs: NotificationPreferences,
    /// The preferences are the role's defaults (none stored).
    default: bool,
}

#[derive(sqlx::FromRow)]
struct ReaderRow {
    id: Uuid,
    email: String,
    role: String,
    stored: bool,
    email_opt_out: Option<bool>,
    alert_min_severity: Option<String>,
    alert_types: Option<Vec<String>>,
    assignments: Option<bool>,
    resolved: Option<bool>,
    digest: Option<String>,
    digest_hour: Option<i16>,
    time_zone: Option<String>,
}

/// Every active user who has not opted out of e-mail, with their preferences.
async fn readers(tx: &mut Transaction<'_, Postgres>) -> Result<Vec<Reader>, sqlx::Error> {
    let rows: Vec<ReaderRow> = sqlx::query_as(
        "SELECT u.id, u.email, u.role, p.user_id IS NOT NULL AS stored, p.email_opt_out, p.alert_min_severity, \
         p.alert_types, p.assignments, p.resolved, p.digest, p.digest_hour, p.time_zone \
         FROM users u LEFT JOIN notification_preferences p ON p.user_id = u.id WHERE u.active ORDER BY u.email",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let prefs = if r.stored {
                NotificationPreferences::from_columns(PreferenceColumns {
                    email_opt_out: r.email_opt_out.unwrap_or(false),
                    alert_min_severity: r.alert_min_severity.as_deref(),
                    alert_types: r.alert_types.as_deref(),
                    assignments: r.assignments.unwrap_or(true),
                    resolved: r.resolved.unwrap_or(false),
                    digest: r.digest.as_deref().unwrap_or_default(),
                    digest_hour: r.digest_hour.unwrap_or_default(),
                    time_zone: r.time_zone.as_deref().unwrap_or_default(),
                })
            } else {
                NotificationPreferences::role_default(&r.role)
            };
            Reader { id: r.id, email: r.email, role: r.role, prefs, default: !r.stored }
        })
        .filter(|r| !r.prefs.email_opt_out)
        .collect())
}

/// Why a reader gets an alert mail they asked for (or their role gets by default).
fn subscribed_because(r: &Reader, e: &AlertEvent) -> String {
    if r.default {
        let article = if r.role.starts_with('A') { "an" } else { "a" };
        format!("{article} {} of rtcx (CRITICAL and HIGH alerts by default)", r.role)
    } else {
        let from = r.prefs.alert_min_severity.map_or("", |s| s.as_str());
        format!("subscribed to {} alerts from {from} up (your notification preferences)", e.alert_type.as_str())
    }
}

/// Who gets an alert event by e-mail: (address, why), and the mail's headline. Follows each
/// user's preferences (docs/notifications.md, "Who gets e-mail").
async fn mail_recipients(
    tx: &mut Transaction<'_, Postgres>,
    e: &AlertEvent,
) -> Result<(Vec<(String, String)>, &'static str), sqlx::Error> {
    let workflow = e.workflow.as_ref();
    let assignee = workflow.and_then(|w| w.assignee_id);
    let closed = workflow.is_some_and(|w| w.status.closed());
    let headline = match e.change {
        AlertChange::Raised => "New alert",
        AlertChange::Reopened => "Alert reopened",
        AlertChange::Assigned => "Alert assigned to you",
        AlertChange::StatusChanged if closed => match workflow.map(|w| w.status) {
            Some(AlertStatus::Dismissed) => "Alert dismissed",
            _ => "Alert resolved",
        },
        _ => return Ok((Vec::new(), "")),
    };
    let mut out = Vec::new();
    for r in readers(tx).await? {
        let is_assignee = assignee == Some(r.id);
        let why = match e.change {
            AlertChange::Raised | AlertChange::Reopened if is_assignee && r.prefs.assignments => {
                Some("the alert's assignee".to_owned())
            }
            AlertChange::Raised | AlertChange::Reopened if r.prefs.covers(e) => Some(subscribed_because(&r, e)),
            // Someone else assigned it to them.
            AlertChange::Assigned if is_assignee && r.prefs.assignments && workflow.is_some_and(|w| w.by != r.id) => {
                Some("the alert's assignee".to_owned())
            }
            AlertChange::StatusChanged if r.prefs.resolved && (r.prefs.covers(e) || is_assignee) => {
                Some("subscribed to resolved notices (your notification preferences)".to_owned())
            }
            _ => None,
        };
        if let Some(why) = why {
            out.push((r.email, why));
        }
    }
    Ok((out, headline))
}

/// The webhook event type of an alert event.
pub fn event_type(e: &AlertEvent) -> &'static str {
    match (e.change, &e.workflow) {
        (AlertChange::Raised, _) => "alert.created",
        (AlertChange::StatusChanged, Some(w)) if w.status.closed() => "alert.resolved",
        _ => "alert.updated",
    }
}

/// What routing one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Routed {
    /// Deliveries newly queued.
    pub queued: usize,
    /// Deliveries that were queued before (the event was read again).
    pub duplicates: usize,
    /// Not to be notified (backfill or silenced).
    pub muted: bool,
}

impl Routed {
    fn count(&mut self, queued: bool) {
        if queued {
            self.queued += 1;
        } else {
            self.duplicates += 1;
        }
    }
}

fn encode(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(e))
}

/// Queues `payload` (a standard body) for every active endpoint that takes `kind`.
async fn queue_webhooks(
    tx: &mut Transaction<'_, Postgres>,
    routed: &mut Routed,
    message_id: &str,
    kind: &str,
    payload: &serde_json::Value,
    event_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let hooks: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM webhooks WHERE active AND $1 = ANY(event_types) ORDER BY id")
            .bind(kind)
            .fetch_all(&mut **tx)
            .await?;
    for webhook_id in hooks {
        let d = NewDelivery {
            message_id: message_id.to_owned(),
            target: Target::Webhook(webhook_id),
            event_type: kind.to_owned(),
            payload: payload.clone(),
            event_at,
            sensitive: false,
            group_key: None,
            delay: std::time::Duration::ZERO,
            bulk: false,
        };
        routed.count(enqueue(&mut **tx, &d).await?);
    }
    Ok(())
}

/// What the alert mails of one event are.
struct AlertMails<'a> {
    message_id: &'a str,
    /// The delivery's event type (`alert.created`, …, `alert.reminder`).
    kind: &'a str,
    /// The headline ("New alert", "Still open").
    verb: &'a str,
    event_at: DateTime<Utc>,
    /// New-alert mails wait for, and are sent with, the others of their rule.
    grouped: bool,
    /// Reminders are bulk mail (claimed after the rest).
    bulk: bool,
}

/// Queues one mail about `event` per recipient (address, why).
async fn queue_alert_mails(
    tx: &mut Transaction<'_, Postgres>,
    routed: &mut Routed,
    event: &AlertEvent,
    recipients: Vec<(String, String)>,
    m: &AlertMails<'_>,
    routing: &EmailRouting,
) -> Result<(), sqlx::Error> {
    let console = routing.console_url.as_deref();
    for (to, reason) in recipients {
        let content = render::alert(event, m.verb, &reason, console).map_err(encode)?;
        let mut payload = serde_json::to_value(content).map_err(encode)?;
        if m.grouped {
            payload["group"] = serde_json::json!([render::group_entry(event, m.verb, &reason, console)]);
        }
        let d = NewDelivery {
            message_id: m.message_id.to_owned(),
            target: Target::Email(to),
            event_type: m.kind.to_owned(),
            payload,
            event_at: m.event_at,
            sensitive: false,
            group_key: m.grouped.then(|| group_key(event)),
            delay: if m.grouped { routing.group_wait } else { std::time::Duration::ZERO },
            bulk: m.bulk,
        };
        routed.count(enqueue(&mut **tx, &d).await?);
    }
    Ok(())
}

/// Queues the deliveries of one alert event. `message_id` identifies the event (the same
/// for every reading of it); `seen_at` is when it was published, the event time of changes
/// (a new alert's is its `created_at`).
pub async fn route_alert(
    pg: &PgPool,
    message_id: &str,
    event: &AlertEvent,
    seen_at: DateTime<Utc>,
    email: Option<&EmailRouting>,
) -> Result<Routed, sqlx::Error> {
    if !event.notify() {
        return Ok(Routed { muted: true, ..Routed::default() });
    }
    let kind = event_type(event);
    let event_at = if event.change == AlertChange::Raised { event.created_at } else { seen_at };
    let payload = standard(kind, event_at, serde_json::to_value(event).map_err(encode)?);
    let mut tx = pg.begin().await?;
    let mut routed = Routed::default();
    queue_webhooks(&mut tx, &mut routed, message_id, kind, &payload, event_at).await?;
    if let Some(routing) = email {
        let (recipients, verb) = mail_recipients(&mut tx, event).await?;
        // New and reopened alerts of one rule are grouped per address (`deliveries::fold_group`).
        let grouped = matches!(event.change, AlertChange::Raised | AlertChange::Reopened);
        let m = AlertMails { message_id, kind, verb, event_at, grouped, bulk: false };
        queue_alert_mails(&mut tx, &mut routed, event, recipients, &m, routing).await?;
    }
    tx.commit().await?;
    Ok(routed)
}

/// Queues the "Still open" mails of an alert left open (`reminders`): to the readers a new
/// alert like it reaches (`event.change` is `RAISED`, its assignee in `workflow`).
pub async fn route_reminder(
    pg: &PgPool,
    message_id: &str,
    event: &AlertEvent,
    routing: &EmailRouting,
) -> Result<Routed, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let (recipients, _) = mail_recipients(&mut tx, event).await?;
    let mut routed = Routed::default();
    let m = AlertMails {
        message_id,
        kind: "alert.reminder",
        verb: "Still open",
        event_at: Utc::now(),
        grouped: false,
        bulk: true,
    };
    queue_alert_mails(&mut tx, &mut routed, event, recipients, &m, routing).await?;
    tx.commit().await?;
    Ok(routed)
}

/// Queues a `feedback.negative` delivery of a negative message for every active webhook that
/// takes it. `message_id` is `msg_feedback_<feedback id>`: the same message read twice is
/// queued once. The body's `data` is the message as the live rooms deliver it
/// ([`rtcx_schemas::live::FeedbackUpdate`]).
pub async fn route_negative_feedback(
    pg: &PgPool,
    message_id: &str,
    e: &rtcx_schemas::EnrichedFeedback,
) -> Result<Routed, sqlx::Error> {
    const KIND: &str = "feedback.negative";
    let data = serde_json::to_value(rtcx_schemas::live::FeedbackUpdate::from(e)).map_err(encode)?;
    let payload = standard(KIND, e.processed_at, data);
    let mut tx = pg.begin().await?;
    let mut routed = Routed::default();
    queue_webhooks(&mut tx, &mut routed, message_id, KIND, &payload, e.processed_at).await?;
    tx.commit().await?;
    Ok(routed)
}

#[cfg(test)]
mod tests {
    use rtcx_schemas::{AlertStatus, WorkflowChange};

    use super::*;

    #[test]
    fn changes_map_to_webhook_event_types() {
        let mut e: AlertEvent = serde_json::from_value(serde_json::json!({
            "id": Uuid::nil(), "alert_type": "SENTIMENT_SPIKE", "severity": "HIGH", "title": "t", "description": "",
            "dimension": {}, "window_start": "2026-12-01T10:00:00Z", "window_end": "2026-12-01T10:05:00Z",
            "metric": "negative_share", "observed": 0.4, "baseline": 0.1, "evidence": {},
            "created_at": "2026-12-01T10:06:00Z"
        }))
        .expect("event");
        assert_eq!(event_type(&e), "alert.created");
        for change in [AlertChange::Updated, AlertChange::Cleared, AlertChange::Reopened, AlertChange::Assigned] {
            e.change = change;
            assert_eq!(event_type(&e), "alert.updated", "{change:?}");
        }
        e.change = AlertChange::StatusChanged;
        for (status, kind) in [
            (AlertStatus::InProgress, "alert.updated"),
            (AlertStatus::Resolved, "alert.resolved"),
            (AlertStatus::Dismissed, "alert.resolved"),
        ] {
            e.workflow = Some(WorkflowChange { by: Uuid::nil(), status, assignee_id: None, note: None });
            assert_eq!(event_type(&e), kind, "{status:?}");
        }
    }
}
