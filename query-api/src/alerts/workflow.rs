//! The alert workflow: status (OPEN → IN_PROGRESS → RESOLVED | DISMISSED, and re-opening),
//! assignment, severity and comments. Each change is one transaction that also writes its
//! `alert_history` entry and its `rtcx.alerts.v1` event (through the outbox, so every
//! query-api instance and the notifier hear of it); an invalid transition is refused with 409.
//!
//! | from \ to | OPEN | IN_PROGRESS | RESOLVED | DISMISSED |
//! |---|---|---|---|---|
//! | OPEN | 409 | ✓ | ✓ (notes) | ✓ (notes) |
//! | IN_PROGRESS | ✓ | 409 | ✓ (notes) | ✓ (notes) |
//! | RESOLVED | ✓ (re-open) | 409 | 409 | 409 |
//! | DISMISSED | ✓ (re-open) | 409 | 409 | 409 |

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rtcx_schemas::{AlertChange, AlertEvent, AlertSeverity, AlertType, WorkflowChange};
use serde::Deserialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{AlertDetail, AlertStatus, HISTORY, HistoryEntry, TEXT_MAX, detail};
use crate::app::AppState;
use crate::auth::{AuthUser, Permission, Role};
use crate::error::ApiError;

/// Writes one history entry.
pub(crate) async fn record(
    tx: &mut Transaction<'_, Postgres>,
    alert: Uuid,
    by: Option<Uuid>,
    action: &str,
    old_status: Option<&str>,
    new_status: Option<&str>,
    note: Option<&str>,
) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO alert_history (alert_id, changed_by, action, old_status, new_status, note)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(alert)
    .bind(by)
    .bind(action)
    .bind(old_status)
    .bind(new_status)
    .bind(note)
    .fetch_one(&mut **tx)
    .await?)
}

/// Queues an alert event for `rtcx.alerts.v1` (the processors' outbox relay publishes it).
pub(crate) async fn publish(tx: &mut Transaction<'_, Postgres>, event: &AlertEvent) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('alert', $1, $2, $3)")
        .bind(event.id.to_string())
        .bind(event.change.event_type())
        .bind(serde_json::to_value(event).map_err(|e| ApiError::Internal(e.to_string()))?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The alert's row as its events carry it.
#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    alert_type: String,
    severity: String,
    status: String,
    title: String,
    description: String,
    dimension: sqlx::types::Json<std::collections::BTreeMap<String, String>>,
    window_start: chrono::DateTime<chrono::Utc>,
    window_end: chrono::DateTime<chrono::Utc>,
    metric: String,
    observed: Option<f64>,
    baseline: Option<f64>,
    evidence: serde_json::Value,
    created_at: chrono::DateTime<chrono::Utc>,
    rule: Option<String>,
    score: Option<f64>,
    backfill: bool,
    silenced: bool,
    assignee_id: Option<Uuid>,
}

/// Queues the event of a change `by` made: the alert as it stands now in this transaction.
async fn announce(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    change: AlertChange,
    by: Uuid,
    note: Option<&str>,
) -> Result<(), ApiError> {
    let r: EventRow = sqlx::query_as(
        "SELECT id, alert_type, severity, status, title, description, dimension, window_start, window_end, metric,
                observed, baseline, evidence, created_at, rule, score, backfill, silenced, assignee_id
         FROM alerts WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    let stored = |what: &str, v: &str| ApiError::Internal(format!("stored {what} {v:?}"));
    let event = AlertEvent {
        id: r.id,
        alert_type: AlertType::from_wire(&r.alert_type).ok_or_else(|| stored("type", &r.alert_type))?,
        severity: AlertSeverity::from_wire(&r.severity).ok_or_else(|| stored("severity", &r.severity))?,
        title: r.title,
        description: r.description,
        dimension: r.dimension.0,
        window_start: r.window_start,
        window_end: r.window_end,
        metric: r.metric,
        observed: r.observed.unwrap_or_default(),
        baseline: r.baseline.unwrap_or_default(),
        evidence: r.evidence,
        created_at: r.created_at,
        change,
        rule: r.rule,
        score: r.score,
        backfill: r.backfill,
        silenced: r.silenced,
        workflow: Some(WorkflowChange {
            by,
            status: AlertStatus::from_wire(&r.status).ok_or_else(|| stored("status", &r.status))?,
            assignee_id: r.assignee_id,
            note: note.map(str::to_owned),
        }),
    };
    publish(tx, &event).await
}

/// What a workflow change reads from the alert's row, locked for the transaction.
#[derive(sqlx::FromRow)]
struct Locked {
    status: String,
    assignee_id: Option<Uuid>,
    severity: String,
}

/// Locks the alert's row and reads what the workflow decides on.
async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<Locked, ApiError> {
    sqlx::query_as("SELECT status, assignee_id, severity FROM alerts WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ApiError::NotFound("alert"))
}

/// A status change. Resolving or dismissing needs resolution notes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
#[schema(example = json!({"status": "RESOLVED", "resolution_notes": "The e-mail provider fixed its bounce handling at 10:40."}))]
pub enum StatusChange {
    /// Back to open (also re-opens a resolved or dismissed alert).
    Open {
        #[serde(default)]
        note: Option<String>,
    },
    /// Someone works on it.
    InProgress {
        #[serde(default)]
        note: Option<String>,
    },
    /// Fixed; say how.
    Resolved { resolution_notes: String },
    /// Not a real problem; say why.
    Dismissed { resolution_notes: String },
}

impl StatusChange {
    fn target(&self) -> AlertStatus {
        match self {
            StatusChange::Open { .. } => AlertStatus::Open,
            StatusChange::InProgress { .. } => AlertStatus::InProgress,
            StatusChange::Resolved { .. } => AlertStatus::Resolved,
            StatusChange::Dismissed { .. } => AlertStatus::Dismissed,
        }
    }

    fn note(&self) -> Option<&str> {
        match self {
            StatusChange::Open { note } | StatusChange::InProgress { note } => note.as_deref(),
            StatusChange::Resolved { resolution_notes } | StatusChange::Dismissed { resolution_notes } => {
                Some(resolution_notes)
            }
        }
    }
}

/// Whether the workflow allows `from` → `to`.
pub fn allowed(from: AlertStatus, to: AlertStatus) -> bool {
    use AlertStatus::*;
    matches!(
        (from, to),
        (Open, InProgress | Resolved | Dismissed)
            | (InProgress, Open | Resolved | Dismissed)
            | (Resolved | Dismissed, Open)
    )
}

/// `POST /v1/alerts/{id}/status`.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/status",
    tag = "alerts",
    summary = "Move an alert through its workflow",
    description = "OPEN → IN_PROGRESS → RESOLVED | DISMISSED; IN_PROGRESS → OPEN; RESOLVED or DISMISSED → OPEN (re-open). Any other transition, including to the current status, answers 409. Resolving or dismissing needs `resolution_notes`.",
    params(("id" = Uuid, Path, description = "Alert id")),
    request_body = StatusChange,
    responses((status = 200, body = AlertDetail), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("handle_alerts")))
)]
pub async fn change_status(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<StatusChange>, JsonRejection>,
) -> Result<Json<AlertDetail>, ApiError> {
    user.require(Permission::HandleAlerts)?;
    let Json(change) = body?;
    let to = change.target();
    // Lengths as sent (what the document's maxLength states); stored trimmed.
    match &change {
        StatusChange::Resolved { resolution_notes: n } | StatusChange::Dismissed { resolution_notes: n }
            if !crate::text_input::name_ok(n, TEXT_MAX) =>
        {
            return Err(ApiError::invalid(
                "resolution_notes",
                format!("required to resolve or dismiss: 1..={TEXT_MAX} characters, something visible"),
            ));
        }
        StatusChange::Open { note: Some(n) } | StatusChange::InProgress { note: Some(n) }
            if n.chars().count() > TEXT_MAX =>
        {
            return Err(ApiError::invalid("note", format!("at most {TEXT_MAX} characters")));
        }
        _ => {}
    }
    let note = change.note().map(str::trim);
    let mut tx = app.pg.begin().await?;
    let stored = lock(&mut tx, id).await?.status;
    let from =
        AlertStatus::from_wire(&stored).ok_or_else(|| ApiError::Internal(format!("stored status {stored:?}")))?;
    if !allowed(from, to) {
        return Err(ApiError::Conflict("this status change is not allowed from the alert's current status"));
    }
    sqlx::query(
        "UPDATE alerts SET status = $2, updated_at = now(),
                acknowledged_at = CASE WHEN $2 <> 'OPEN' THEN COALESCE(acknowledged_at, now()) ELSE acknowledged_at END,
                resolved_at = CASE WHEN $3 THEN now() ELSE NULL END,
                resolution_notes = CASE WHEN $3 THEN $4 ELSE resolution_notes END
         WHERE id = $1",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(to.closed())
    .bind(note.filter(|_| to.closed()))
    .execute(&mut *tx)
    .await?;
    let note = note.filter(|n| !n.is_empty());
    record(&mut tx, id, Some(user.id), "STATUS_CHANGED", Some(from.as_str()), Some(to.as_str()), note).await?;
    announce(&mut tx, id, AlertChange::StatusChanged, user.id, note).await?;
    tx.commit().await?;
    detail(&app, id).await.map(Json)
}

/// Who handles the alert.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"assignee_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f"}))]
pub struct Assignment {
    /// An active user whose role may handle alerts; null unassigns.
    pub assignee_id: Option<Uuid>,
}

/// `PUT /v1/alerts/{id}/assignee`.
#[utoipa::path(
    put,
    path = "/v1/alerts/{id}/assignee",
    tag = "alerts",
    summary = "Assign or unassign an alert",
    description = "Managers and admins assign anyone who may handle alerts (ADMIN, MANAGER, AGENT); agents may take an alert (assign it to themselves) and give back their own. An assignee who is not an active user, or whose role may not handle alerts, answers 409; 404 means no such alert.",
    params(("id" = Uuid, Path, description = "Alert id")),
    request_body = Assignment,
    responses((status = 200, body = AlertDetail), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("handle_alerts")))
)]
pub async fn assign(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<Assignment>, JsonRejection>,
) -> Result<Json<AlertDetail>, ApiError> {
    user.require(Permission::HandleAlerts)?;
    let Json(a) = body?;
    let mut tx = app.pg.begin().await?;
    let current = lock(&mut tx, id).await?.assignee_id;
    // Without ManageAlerts: only take it, or give back one's own.
    if !user.role.allows(Permission::ManageAlerts) {
        let own = match a.assignee_id {
            Some(to) => to == user.id,
            None => current == Some(user.id),
        };
        if !own {
            return Err(ApiError::Forbidden("your role may only take an alert or give back your own"));
        }
    }
    if let Some(to) = a.assignee_id {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1 AND active")
            .bind(to)
            .fetch_optional(&mut *tx)
            .await?;
        let role = role.ok_or(ApiError::Conflict("the assignee is not an active user"))?;
        if !Role::parse(&role).is_some_and(|r| r.allows(Permission::HandleAlerts)) {
            return Err(ApiError::Conflict("the assignee's role may not handle alerts"));
        }
    }
    if current != a.assignee_id {
        sqlx::query("UPDATE alerts SET assignee_id = $2, updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(a.assignee_id)
            .execute(&mut *tx)
            .await?;
        let note = match a.assignee_id {
            Some(to) => format!("assigned to {to}"),
            None => "unassigned".to_owned(),
        };
        record(&mut tx, id, Some(user.id), "ASSIGNED", None, None, Some(&note)).await?;
        announce(&mut tx, id, AlertChange::Assigned, user.id, None).await?;
    }
    tx.commit().await?;
    detail(&app, id).await.map(Json)
}

/// A severity set by a person (the detector keeps it from then on).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"severity": "CRITICAL", "note": "Affects every enterprise customer"}))]
pub struct SeverityChange {
    /// LOW, MEDIUM, HIGH or CRITICAL.
    #[schema(value_type = crate::openapi::SeverityName)]
    pub severity: AlertSeverity,
    #[serde(default)]
    pub note: Option<String>,
}

/// `PUT /v1/alerts/{id}/severity`.
#[utoipa::path(
    put,
    path = "/v1/alerts/{id}/severity",
    tag = "alerts",
    summary = "Change an alert's severity",
    description = "The detector keeps a severity set here (it no longer escalates it).",
    params(("id" = Uuid, Path, description = "Alert id")),
    request_body = SeverityChange,
    responses((status = 200, body = AlertDetail), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_alerts")))
)]
pub async fn change_severity(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<SeverityChange>, JsonRejection>,
) -> Result<Json<AlertDetail>, ApiError> {
    user.require(Permission::ManageAlerts)?;
    let Json(c) = body?;
    if c.note.as_ref().is_some_and(|n| n.chars().count() > TEXT_MAX) {
        return Err(ApiError::invalid("note", format!("at most {TEXT_MAX} characters")));
    }
    let note = c.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let mut tx = app.pg.begin().await?;
    let old = lock(&mut tx, id).await?.severity;
    sqlx::query("UPDATE alerts SET severity = $2, severity_pinned = true, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(c.severity.as_str())
        .execute(&mut *tx)
        .await?;
    if old != c.severity.as_str() {
        let text = match note {
            Some(n) => format!("{old} -> {}: {n}", c.severity.as_str()),
            None => format!("{old} -> {}", c.severity.as_str()),
        };
        record(&mut tx, id, Some(user.id), "SEVERITY_CHANGED", None, None, Some(&text)).await?;
        announce(&mut tx, id, AlertChange::SeverityChanged, user.id, note).await?;
    }
    tx.commit().await?;
    detail(&app, id).await.map(Json)
}

/// A comment on an alert.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Support confirms: bounce e-mails since 09:00."}))]
pub struct NewComment {
    pub text: String,
}

/// `POST /v1/alerts/{id}/comments`.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/comments",
    tag = "alerts",
    summary = "Comment on an alert",
    params(("id" = Uuid, Path, description = "Alert id")),
    request_body = NewComment,
    responses((status = 201, description = "The history entry of the comment", body = HistoryEntry), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("handle_alerts")))
)]
pub async fn comment(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<NewComment>, JsonRejection>,
) -> Result<(StatusCode, Json<HistoryEntry>), ApiError> {
    user.require(Permission::HandleAlerts)?;
    let Json(c) = body?;
    if !crate::text_input::name_ok(&c.text, TEXT_MAX) {
        return Err(ApiError::invalid("text", format!("1..={TEXT_MAX} characters, something visible")));
    }
    let mut tx = app.pg.begin().await?;
    lock(&mut tx, id).await?;
    let entry = record(&mut tx, id, Some(user.id), "COMMENTED", None, None, Some(c.text.trim())).await?;
    sqlx::query("UPDATE alerts SET updated_at = now() WHERE id = $1").bind(id).execute(&mut *tx).await?;
    announce(&mut tx, id, AlertChange::Commented, user.id, Some(c.text.trim())).await?;
    tx.commit().await?;
    let e = sqlx::query_as(&format!("{HISTORY} WHERE h.id = $1")).bind(entry).fetch_one(&app.pg).await?;
    Ok((StatusCode::CREATED, Json(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_table() {
        use AlertStatus::*;
        for from in AlertStatus::ALL {
            assert!(!allowed(from, from), "{from:?} to itself");
        }
        assert!(allowed(Open, InProgress) && allowed(Open, Resolved) && allowed(Open, Dismissed));
        assert!(allowed(InProgress, Open) && allowed(InProgress, Resolved) && allowed(InProgress, Dismissed));
        assert!(allowed(Resolved, Open) && allowed(Dismissed, Open));
        assert!(!allowed(Resolved, InProgress) && !allowed(Resolved, Dismissed) && !allowed(Dismissed, Resolved));
    }
}
