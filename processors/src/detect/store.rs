//! Writing what the detectors found: one `alerts` row per incident, its `alert_history`, and
//! an `outbox` event (`AlertEvent`, for `rtcx.alerts.v1`) per change, in one transaction.
//!
//! Idempotent: the id is a UUIDv5 of (rule, dimension, firing window), and an update needs a
//! later window than the alert's `last_window_end`, so re-evaluating a window (a restart, two
//! evaluators during a take-over) changes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rtcx_schemas::{AlertChange, AlertEvent, AlertSeverity};
use sqlx::PgPool;
use uuid::Uuid;

use super::backtest::DimensionAlert;
use super::history::History;

/// Namespace of alert ids.
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0x5c1e_4e8a_7b1d_4a4e_9f0e_a1e7_0000_0001);

/// The deterministic id of an incident's alert: the evaluator (`scope`: consumer group and
/// topic, so that two pipelines sharing a Postgres never collide), rule, dimension and window.
pub fn alert_id(
    scope: &str,
    rule: &str,
    dimension: &BTreeMap<String, String>,
    fired_window_start: DateTime<Utc>,
) -> Uuid {
    let dim: Vec<String> = dimension.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let key = format!("{scope}|{rule}|{}|{}", dim.join(","), fired_window_start.timestamp());
    Uuid::new_v5(&ALERT_NAMESPACE, key.as_bytes())
}

/// What writing one alert changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated(AlertChange),
    Unchanged,
}

/// The alert as the evaluator writes it.
#[derive(Debug, Clone)]
pub struct AlertWrite {
    pub event: AlertEvent,
    pub fired_window_start: DateTime<Utc>,
    pub last_window_end: DateTime<Utc>,
    pub peak_observed: f64,
    pub cleared_at: Option<DateTime<Utc>>,
}

impl AlertWrite {
    /// The row and event for a detected incident, as of the end of `history`.
    pub fn from_detection(
        scope: &str,
        a: &DimensionAlert,
        history: &History,
        now: DateTime<Utc>,
        stale: Duration,
    ) -> Self {
        let inc = &a.alert.incident;
        let fired_start = history.window_start(inc.fired_window);
        let window = Duration::seconds(history.window_secs as i64);
        let last_window_end = history.window_start(history.len);
        let fire = &inc.at_fire;
        let event = AlertEvent {
            id: alert_id(scope, &a.rule.name, &a.dimension, fired_start),
            alert_type: a.rule.alert_type(),
            severity: a.alert.severity,
            title: a.rule.rule.title(&a.dimension, fire.observed, fire.expected),
            description: format!(
                "Rule {} fired in the window {} – {}: observed {:.3}, expected {:.3} (p = {:.2e}, {} events); peak {:.3}.",
                &a.rule.name,
                fired_start,
                fired_start + window,
                fire.observed,
                fire.expected,
                fire.p_value,
                fire.volume,
                inc.peak.observed
            ),
            dimension: a.dimension.clone(),
            window_start: history.window_start(inc.first_window),
            window_end: history.window_start(inc.last_breach_window + 1),
            metric: a.rule.rule.name.to_owned(),
            observed: fire.observed,
            baseline: fire.expected,
            evidence: serde_json::json!({
                "firing_window": {"start": fired_start, "end": fired_start + window},
                "p_value": fire.p_value, "score": fire.score, "effect": fire.effect, "volume": fire.volume,
                "peak": {"observed": inc.peak.observed, "expected": inc.peak.expected, "score": inc.peak.score},
                "reopened": inc.reopened,
                "evaluator": scope,
            }),
            created_at: now,
            change: AlertChange::Raised,
            rule: Some(a.rule.name.clone()),
            score: Some(fire.score),
            backfill: now - (fired_start + window) > stale,
            silenced: false,
            workflow: None,
        };
        Self {
            event,
            fired_window_start: fired_start,
            last_window_end,
            peak_observed: inc.peak.observed,
            cleared_at: inc.resolved_window.map(|w| history.window_start(w + 1)),
        }
    }
}

/// Writes alerts to Postgres.
#[derive(Debug, Clone)]
pub struct AlertStore {
    pg: PgPool,
}

#[derive(sqlx::FromRow)]
struct Current {
    severity: String,
    severity_pinned: bool,
    last_window_end: Option<DateTime<Utc>>,
    cleared_at: Option<DateTime<Utc>>,
    peak_observed: Option<f64>,
}

impl AlertStore {
    pub fn new(pg: PgPool) -> Self {
        Self { pg }
    }

    /// Creates the alert, or brings it up to date when `w` covers a later window.
    pub async fn write(&self, w: &AlertWrite) -> Result<Written, sqlx::Error> {
        let mut tx = self.pg.begin().await?;
        // An incident of the same evaluator, rule and dimension whose alert has not cleared is
        // this one going on, even where its firing window is another (an instance that took
        // over rebuilt its run from history holding events the previous one had not seen yet):
        // it is updated, not raised twice.
        let ongoing: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM alerts
             WHERE rule = $1 AND dimension = $2 AND evidence->>'evaluator' = $3 AND id <> $4
               AND cleared_at IS NULL AND status IN ('OPEN', 'IN_PROGRESS') AND last_window_end >= $5
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(&w.event.rule)
        .bind(serde_json::to_value(&w.event.dimension).unwrap_or_default())
        .bind(w.event.evidence.get("evaluator").and_then(|v| v.as_str()))
        .bind(w.event.id)
        .bind(w.fired_window_start)
        .fetch_optional(&mut *tx)
        .await?;
        let mut same = None;
        if let Some(id) = ongoing {
            let mut event = w.event.clone();
            event.id = id;
            same = Some(event);
        }
        let e = same.as_ref().unwrap_or(&w.event);
        let created = sqlx::query(
            "INSERT INTO alerts (id, alert_type, severity, title, description, dimension, window_start, window_end,
                                 metric, observed, baseline, evidence, rule, fired_window_start, last_window_end,
                                 score, peak_observed, cleared_at, backfill, silenced)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(e.id)
        .bind(e.alert_type.as_str())
        .bind(e.severity.as_str())
        .bind(&e.title)
        .bind(&e.description)
        .bind(serde_json::to_value(&e.dimension).unwrap_or_default())
        .bind(e.window_start)
        .bind(e.window_end.max(e.window_start + Duration::seconds(1)))
        .bind(&e.metric)
        .bind(e.observed)
        .bind(e.baseline)
        .bind(&e.evidence)
        .bind(&e.rule)
        .bind(w.fired_window_start)
        .bind(w.last_window_end)
        .bind(e.score)
        .bind(w.peak_observed)
        .bind(w.cleared_at)
        .bind(e.backfill)
        .bind(e.silenced)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let (change, stored_severity) = if created {
            sqlx::query(
                "INSERT INTO alert_history (alert_id, action, new_status, note) VALUES ($1, 'CREATED', 'OPEN', $2)",
            )
            .bind(e.id)
            .bind(&e.title)
            .execute(&mut *tx)
            .await?;
            (Some(AlertChange::Raised), e.severity)
        } else {
            let cur: Current = sqlx::query_as(
                "SELECT severity, severity_pinned, last_window_end, cleared_at, peak_observed
                 FROM alerts WHERE id = $1 FOR UPDATE",
            )
            .bind(e.id)
            .fetch_one(&mut *tx)
            .await?;
            if cur.last_window_end.is_some_and(|l| l >= w.last_window_end) {
                (None, e.severity) // this window was evaluated already
            } else {
                // A severity set by a person stays; the detector's only escalates.
                let severity = if cur.severity_pinned {
                    cur.severity.clone()
                } else {
                    escalated(&cur.severity, e.severity).as_str().to_owned()
                };
                let change = match (cur.cleared_at, w.cleared_at) {
                    (None, Some(_)) => Some(AlertChange::Cleared),
                    (Some(_), None) => Some(AlertChange::Reopened),
                    _ if severity != cur.severity || cur.peak_observed != Some(w.peak_observed) => {
                        Some(AlertChange::Updated)
                    }
                    _ => None,
                };
                sqlx::query(
                    "UPDATE alerts SET severity = $2, window_end = GREATEST(window_end, $3), last_window_end = $4,
                            peak_observed = $5, cleared_at = $6, evidence = alerts.evidence || $7, silenced = $8,
                            updated_at = now()
                     WHERE id = $1",
                )
                .bind(e.id)
                .bind(&severity)
                .bind(e.window_end)
                .bind(w.last_window_end)
                .bind(w.peak_observed)
                .bind(w.cleared_at)
                .bind(&e.evidence)
                .bind(e.silenced)
                .execute(&mut *tx)
                .await?;
                if severity != cur.severity {
                    sqlx::query(
                        "INSERT INTO alert_history (alert_id, action, note) VALUES ($1, 'SEVERITY_CHANGED', $2)",
                    )
                    .bind(e.id)
                    .bind(format!("{} -> {severity} (detector)", cur.severity))
                    .execute(&mut *tx)
                    .await?;
                }
                match change {
                    Some(AlertChange::Cleared) | Some(AlertChange::Reopened) => {
                        let action = if change == Some(AlertChange::Cleared) { "CLEARED" } else { "REOPENED" };
                        sqlx::query("INSERT INTO alert_history (alert_id, action) VALUES ($1, $2)")
                            .bind(e.id)
                            .bind(action)
                            .execute(&mut *tx)
                            .await?;
                    }
                    _ => {}
                }
                (change, AlertSeverity::from_wire(&severity).unwrap_or(e.severity))
            }
        };
        if let Some(c) = change {
            let mut event = e.clone();
            event.change = c;
            event.severity = stored_severity;
            sqlx::query(
                "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('alert', $1, $2, $3)",
            )
            .bind(e.id.to_string())
            .bind(c.event_type())
            .bind(serde_json::to_value(&event).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(match change {
            Some(AlertChange::Raised) => Written::Created,
            Some(c) => Written::Updated(c),
            None => Written::Unchanged,
        })
    }
}

/// Severity only escalates: the higher of the stored one and the new one.
fn escalated(stored: &str, new: AlertSeverity) -> AlertSeverity {
    AlertSeverity::from_wire(stored).map_or(new, |s| s.max(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let t = Utc::now();
        let d = BTreeMap::from([("channel".to_owned(), "email".to_owned())]);
        assert_eq!(alert_id("g", "r", &d, t), alert_id("g", "r", &d, t));
        assert_ne!(alert_id("g", "r", &d, t), alert_id("h", "r", &d, t));
        assert_ne!(alert_id("g", "r", &d, t), alert_id("g", "s", &d, t));
        assert_ne!(alert_id("g", "r", &d, t), alert_id("g", "r", &BTreeMap::new(), t));
        assert_ne!(alert_id("g", "r", &d, t), alert_id("g", "r", &d, t + Duration::minutes(5)));
    }

    #[test]
    fn severity_only_escalates() {
        assert_eq!(escalated("HIGH", AlertSeverity::Low), AlertSeverity::High);
        assert_eq!(escalated("LOW", AlertSeverity::Critical), AlertSeverity::Critical);
    }
}
