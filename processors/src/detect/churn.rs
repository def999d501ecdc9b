//! The churn rule in the live evaluator ([`rtcx_detect::churn`]): at each tick that closed
//! windows, the customers with a negative or detractor feedback in those windows are counted
//! over the period before the last closed window (distinct feedback ids: the table is a
//! ReplacingMergeTree). A customer at or over the threshold gets one alert (created, or
//! updated while it grows); a customer with an open churn alert who fell below it gets the
//! alert cleared. Writes go through [`super::store`], idempotent like the other rules.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rtcx_detect::churn::{ChurnParams, CustomerSignals, RULE};
use rtcx_detect::settings::{RuleSettings, Silence, silenced};
use rtcx_schemas::{AlertChange, AlertEvent, AlertType};
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{AlertStore, AlertWrite, Written, alert_id};

/// Feedback that signals churn: negative, or a detractor NPS answer.
const SIGNAL: &str = "(sentiment_label = 'negative' OR (nps IS NOT NULL AND nps <= 6))";

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Counted {
    customer_id: String,
    total: u64,
    negatives: u64,
    detractors: u64,
    signals: u64,
    last_signal_ms: i64,
    /// The latest signals: (time in ms, id, text).
    samples: Vec<(i64, String, String)>,
}

/// What the churn check of one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChurnReport {
    pub created: Vec<Uuid>,
    pub updated: usize,
}

/// The churn rule's parameters from its `alert_rules` row (`None`: disabled).
pub fn params(rows: &[RuleSettings]) -> Option<ChurnParams> {
    let mut p = ChurnParams::default();
    match rows.iter().find(|r| r.name == RULE) {
        Some(r) if !r.enabled => None,
        Some(r) => {
            if let Some(v) = r.min_volume {
                p.min_signals = v.max(1);
            }
            Some(p)
        }
        None => Some(p),
    }
}

/// Inputs of one tick's churn check.
pub struct ChurnTick<'a> {
    pub ch: &'a clickhouse::Client,
    pub pg: &'a PgPool,
    /// The evaluator's name (consumer group and topic): part of alert ids.
    pub scope: &'a str,
    pub params: ChurnParams,
    /// Start of the windows closed since the last tick.
    pub from: DateTime<Utc>,
    /// End of the last closed window.
    pub until: DateTime<Utc>,
    pub window_secs: i64,
    pub now: DateTime<Utc>,
    pub stale: Duration,
    pub silences: &'a [Silence],
}

/// Errors of the churn check.
#[derive(Debug, thiserror::Error)]
pub enum ChurnError {
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
}

impl ChurnTick<'_> {
    pub async fn run(&self) -> Result<ChurnReport, ChurnError> {
        // This evaluator's open churn alerts (another pipeline sharing the database keeps its
        // own): updated or cleared by this tick's counts.
        let open: Vec<(Uuid, Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT id, dimension->>'customer_id', fired_window_start FROM alerts
             WHERE rule = $1 AND evidence->>'evaluator' = $2 AND cleared_at IS NULL AND status IN ('OPEN', 'IN_PROGRESS')",
        )
        .bind(RULE)
        .bind(self.scope)
        .fetch_all(self.pg)
        .await?;
        let open: HashMap<String, (Uuid, DateTime<Utc>)> = open
            .into_iter()
            .filter_map(|(id, customer, fired)| Some((customer?, (id, fired.unwrap_or(self.until)))))
            .collect();
        let open_customers: Vec<String> = open.keys().cloned().collect();
        let period_start = self.until - Duration::days(self.params.period_days);
        let counted: Vec<Counted> = self
            .ch
            .query(&format!(
                "SELECT customer_id, uniqExact(id) AS total,
                        uniqExactIf(id, sentiment_label = 'negative') AS negatives,
                        uniqExactIf(id, nps IS NOT NULL AND nps <= 6) AS detractors,
                        uniqExactIf(id, {SIGNAL}) AS signals,
                        toInt64(toUnixTimestamp64Milli(maxIf(occurred_at, {SIGNAL}))) AS last_signal_ms,
                        arraySlice(arrayReverseSort(groupUniqArrayIf(
                            (toUnixTimestamp64Milli(occurred_at), toString(id), substring(text, 1, 280)), {SIGNAL})), 1, 5) AS samples
                 FROM feedback
                 WHERE customer_id != '' AND occurred_at >= fromUnixTimestamp64Milli(?) AND occurred_at < fromUnixTimestamp64Milli(?)
                 GROUP BY customer_id
                 HAVING (signals >= ? AND last_signal_ms >= ?) OR has(?, customer_id)"
            ))
            .bind(period_start.timestamp_millis())
            .bind(self.until.timestamp_millis())
            .bind(self.params.min_signals)
            .bind(self.from.timestamp_millis())
            .bind(&open_customers)
            .fetch_all()
            .await?;
        let mut seen: Vec<&str> = Vec::new();
        let store = AlertStore::new(self.pg.clone());
        let mut report = ChurnReport::default();
        for c in &counted {
            seen.push(&c.customer_id);
            let s = CustomerSignals {
                total: c.total,
                negatives: c.negatives,
                detractors: c.detractors,
                signals: c.signals,
            };
            let existing = open.get(&c.customer_id).copied();
            let at_risk = self.params.at_risk(&s);
            if !at_risk && existing.is_none() {
                continue;
            }
            let write = self.write_for(&c.customer_id, &s, c, existing, at_risk);
            match store.write(&write).await? {
                Written::Created => report.created.push(write.event.id),
                Written::Updated(_) => report.updated += 1,
                Written::Unchanged => {}
            }
        }
        // Open alerts of customers without any feedback left in the period: cleared.
        for (customer, existing) in &open {
            if seen.contains(&customer.as_str()) {
                continue;
            }
            let empty = Counted {
                customer_id: customer.clone(),
                total: 0,
                negatives: 0,
                detractors: 0,
                signals: 0,
                last_signal_ms: 0,
                samples: Vec::new(),
            };
            let write = self.write_for(customer, &CustomerSignals::default(), &empty, Some(*existing), false);
            if let Written::Updated(_) = store.write(&write).await? {
                report.updated += 1;
            }
        }
        Ok(report)
    }

    fn window_of(&self, ms: i64) -> DateTime<Utc> {
        let secs = ms.div_euclid(1000);
        DateTime::from_timestamp(secs - secs.rem_euclid(self.window_secs), 0).unwrap_or(self.until)
    }

    fn write_for(
        &self,
        customer: &str,
        s: &CustomerSignals,
        c: &Counted,
        existing: Option<(Uuid, DateTime<Utc>)>,
        at_risk: bool,
    ) -> AlertWrite {
        let dimension = BTreeMap::from([("customer_id".to_owned(), customer.to_owned())]);
        let fired = existing.map_or_else(|| self.window_of(c.last_signal_ms), |e| e.1);
        let id = existing.map_or_else(|| alert_id(self.scope, RULE, &dimension, fired), |e| e.0);
        let severity = self.params.severity(s);
        let period_start = self.until - Duration::days(self.params.period_days);
        let samples: Vec<serde_json::Value> = c
            .samples
            .iter()
            .map(|(ms, id, text)| {
                serde_json::json!({"id": id, "occurred_at": DateTime::from_timestamp_millis(*ms), "text": text})
            })
            .collect();
        let event = AlertEvent {
            id,
            alert_type: AlertType::CustomerChurnRisk,
            severity,
            title: self.params.title(customer, s),
            description: format!(
                "Customer {customer}: {} negative and {} detractor feedback among {} in the {} days to {} (threshold {}).",
                s.negatives, s.detractors, s.total, self.params.period_days, self.until, self.params.min_signals
            ),
            dimension: dimension.clone(),
            window_start: period_start,
            window_end: self.until,
            metric: RULE.to_owned(),
            observed: s.signals as f64,
            baseline: self.params.min_signals as f64,
            evidence: serde_json::json!({
                "period": {"start": period_start, "end": self.until},
                "feedback": s.total, "negatives": s.negatives, "detractors": s.detractors, "signals": s.signals,
                "threshold": self.params.min_signals,
                "latest_signals": samples,
                "evaluator": self.scope,
            }),
            created_at: self.now,
            change: AlertChange::Raised,
            rule: Some(RULE.to_owned()),
            score: None,
            backfill: self.now - self.until > self.stale,
            silenced: silenced(self.silences, RULE, AlertType::CustomerChurnRisk, &dimension, self.now),
            workflow: None,
        };
        AlertWrite {
            event,
            fired_window_start: fired,
            last_window_end: self.until,
            peak_observed: s.signals as f64,
            cleared_at: (!at_risk).then_some(self.until),
        }
    }
}
