//! Which alert events become which deliveries.
//!
//! - `RAISED` is `alert.created`; a person resolving or dismissing an alert
//!   (`STATUS_CHANGED` to `RESOLVED` or `DISMISSED`) is `alert.resolved`; every other change
//!   (a new peak, the condition clearing, re-opening, assignment, severity, comments) is
//!   `alert.updated`, with the change in `data.change`.
//! - Backfilled and silenced alerts are never notified (`AlertEvent::notify`).
//! - Every active endpoint subscribed to the type gets one delivery, all with the same
//!   `message_id`, in one transaction.
//! - E-mail (when SMTP is configured): a new CRITICAL or HIGH alert goes to every active
//!   ADMIN and MANAGER and to its assignee; an alert assigned to someone goes to that person
//!   (unless they assigned it to themselves). Same transaction, same `message_id`.

use chrono::{DateTime, Utc};
use rtcx_schemas::{AlertChange, AlertEvent, AlertSeverity};
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
}

/// Who gets an alert event by e-mail: (address, why), and the mail's headline.
async fn mail_recipients(
    tx: &mut Transaction<'_, Postgres>,
    e: &AlertEvent,
) -> Result<(Vec<(String, String)>, &'static str), sqlx::Error> {
    let assignee = e.workflow.as_ref().and_then(|w| w.assignee_id);
    match e.change {
        AlertChange::Raised if e.severity >= AlertSeverity::High => {
            let rows: Vec<(String, String, bool)> = sqlx::query_as(
                "SELECT email, role, id IS NOT DISTINCT FROM $1 FROM users
                 WHERE active AND (role IN ('ADMIN', 'MANAGER') OR id IS NOT DISTINCT FROM $1) ORDER BY email",
            )
            .bind(assignee)
            .fetch_all(&mut **tx)
            .await?;
            let why = |role: String, assigned: bool| {
                let article = if role.starts_with('A') { "an" } else { "a" };
                if assigned {
                    "the alert's assignee".to_owned()
                } else {
                    format!("{article} {role} of rtcx (CRITICAL and HIGH alerts)")
                }
            };
            Ok((rows.into_iter().map(|(email, role, assigned)| (email, why(role, assigned))).collect(), "New alert"))
        }
        AlertChange::Assigned => {
            let Some((to, by)) = e.workflow.as_ref().and_then(|w| w.assignee_id.map(|a| (a, w.by))) else {
                return Ok((Vec::new(), ""));
            };
            if to == by {
                return Ok((Vec::new(), ""));
            }
            let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND active")
                .bind(to)
                .fetch_optional(&mut **tx)
                .await?;
            Ok((email.into_iter().map(|m| (m, "the alert's assignee".to_owned())).collect(), "Alert assigned to you"))
        }
        _ => Ok((Vec::new(), "")),
    }
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
    let data = serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let payload = standard(kind, event_at, data);
    let mut tx = pg.begin().await?;
    let hooks: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM webhooks WHERE active AND $1 = ANY(event_types) ORDER BY id")
            .bind(kind)
            .fetch_all(&mut *tx)
            .await?;
    let mut routed = Routed::default();
    for webhook_id in hooks {
        let d = NewDelivery {
            message_id: message_id.to_owned(),
            target: Target::Webhook(webhook_id),
            event_type: kind.to_owned(),
            payload: payload.clone(),
            event_at,
            sensitive: false,
        };
        routed.count(enqueue(&mut *tx, &d).await?);
    }
    if let Some(routing) = email {
        let (recipients, verb) = mail_recipients(&mut tx, event).await?;
        for (to, reason) in recipients {
            let content = render::alert(event, verb, &reason, routing.console_url.as_deref())
                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let d = NewDelivery {
                message_id: message_id.to_owned(),
                target: Target::Email(to),
                event_type: kind.to_owned(),
                payload: serde_json::to_value(content).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
                event_at,
                sensitive: false,
            };
            routed.count(enqueue(&mut *tx, &d).await?);
        }
    }
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
