//! Alert events (`rtcx.alerts.v1`), emitted by the processors' detectors.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of condition an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertType {
    /// Average sentiment dropped sharply against its baseline.
    SentimentSpike,
    /// The volume of negative feedback rose sharply against its baseline.
    HighVolumeNegative,
    /// A topic's volume grows much faster than usual.
    TrendingTopic,
    /// A channel's sentiment or volume departs from the other channels'.
    ChannelPerformance,
    /// A customer's recent feedback indicates churn risk.
    CustomerChurnRisk,
    /// The pipeline itself misbehaves (lag, dead letters, model fallback).
    SystemAnomaly,
}

impl AlertType {
    pub const ALL: [AlertType; 6] = [
        AlertType::SentimentSpike,
        AlertType::HighVolumeNegative,
        AlertType::TrendingTopic,
        AlertType::ChannelPerformance,
        AlertType::CustomerChurnRisk,
        AlertType::SystemAnomaly,
    ];

    /// The type of a wire name (`None` for anything else).
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The wire name, as stored in Postgres.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertType::SentimentSpike => "SENTIMENT_SPIKE",
            AlertType::HighVolumeNegative => "HIGH_VOLUME_NEGATIVE",
            AlertType::TrendingTopic => "TRENDING_TOPIC",
            AlertType::ChannelPerformance => "CHANNEL_PERFORMANCE",
            AlertType::CustomerChurnRisk => "CUSTOMER_CHURN_RISK",
            AlertType::SystemAnomaly => "SYSTEM_ANOMALY",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertSeverity {
    Low,
    Medium,
    High,
    Critical,
}

impl AlertSeverity {
    pub const ALL: [AlertSeverity; 4] =
        [AlertSeverity::Low, AlertSeverity::Medium, AlertSeverity::High, AlertSeverity::Critical];

    /// The severity of a wire name (`None` for anything else).
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The wire name, as stored in Postgres.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Low => "LOW",
            AlertSeverity::Medium => "MEDIUM",
            AlertSeverity::High => "HIGH",
            AlertSeverity::Critical => "CRITICAL",
        }
    }
}

/// Where an alert is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertStatus {
    Open,
    InProgress,
    Resolved,
    Dismissed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] =
        [AlertStatus::Open, AlertStatus::InProgress, AlertStatus::Resolved, AlertStatus::Dismissed];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "OPEN",
            AlertStatus::InProgress => "IN_PROGRESS",
            AlertStatus::Resolved => "RESOLVED",
            AlertStatus::Dismissed => "DISMISSED",
        }
    }

    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the alert is closed (resolved or dismissed).
    pub const fn closed(self) -> bool {
        matches!(self, AlertStatus::Resolved | AlertStatus::Dismissed)
    }
}

/// What happened to the alert that this event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertChange {
    /// A new alert.
    #[default]
    Raised,
    /// Its incident goes on with a new peak or a higher severity.
    Updated,
    /// The detector saw the condition clear.
    Cleared,
    /// The condition came back during the cooldown: the same alert again.
    Reopened,
    /// A person moved it through the workflow (`workflow.status`).
    StatusChanged,
    /// A person assigned or unassigned it (`workflow.assignee_id`).
    Assigned,
    /// A person set its severity.
    SeverityChanged,
    /// A person commented on it (`workflow.note`).
    Commented,
}

impl AlertChange {
    pub const ALL: [AlertChange; 8] = [
        AlertChange::Raised,
        AlertChange::Updated,
        AlertChange::Cleared,
        AlertChange::Reopened,
        AlertChange::StatusChanged,
        AlertChange::Assigned,
        AlertChange::SeverityChanged,
        AlertChange::Commented,
    ];

    /// The outbox event type of this change, e.g. `alert_raised`.
    pub const fn event_type(self) -> &'static str {
        match self {
            AlertChange::Raised => "alert_raised",
            AlertChange::Updated => "alert_updated",
            AlertChange::Cleared => "alert_cleared",
            AlertChange::Reopened => "alert_reopened",
            AlertChange::StatusChanged => "alert_status_changed",
            AlertChange::Assigned => "alert_assigned",
            AlertChange::SeverityChanged => "alert_severity_changed",
            AlertChange::Commented => "alert_commented",
        }
    }
}

/// A change a person made through the alert API: who, and the alert's workflow state after
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowChange {
    /// The user who made the change.
    pub by: Uuid,
    pub status: AlertStatus,
    pub assignee_id: Option<Uuid>,
    /// The status note, resolution notes, severity note or comment, when there is one.
    pub note: Option<String>,
}

/// An alert raised by a detector over an event-time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertEvent {
    /// Deterministic id (UUIDv5 over type, dimension and window) so that a re-run of the same
    /// window raises the same alert once.
    pub id: Uuid,
    pub alert_type: AlertType,
    pub severity: AlertSeverity,
    /// One-line summary for humans.
    pub title: String,
    /// Longer explanation.
    pub description: String,
    /// What the alert is about, e.g. `{"channel": "email"}` or `{"topic_id": "…"}`.
    pub dimension: BTreeMap<String, String>,
    /// Start of the event-time window (inclusive).
    pub window_start: DateTime<Utc>,
    /// End of the event-time window (exclusive).
    pub window_end: DateTime<Utc>,
    /// Name of the measured metric, e.g. `negative_share`.
    pub metric: String,
    /// Value observed in the window.
    pub observed: f64,
    /// Baseline the observation was compared with.
    pub baseline: f64,
    /// Supporting evidence (sample feedback ids, counts), free-form JSON.
    pub evidence: serde_json::Value,
    /// When the detector raised the alert.
    pub created_at: DateTime<Utc>,
    /// What this event reports.
    #[serde(default)]
    pub change: AlertChange,
    /// The detector rule (`docs/alerts.md`); absent for alerts created by hand.
    #[serde(default)]
    pub rule: Option<String>,
    /// `-log10(p)` of the window that fired.
    #[serde(default)]
    pub score: Option<f64>,
    /// Found behind real time (a backlog or a replay): recorded, not to be notified.
    #[serde(default)]
    pub backfill: bool,
    /// Muted by a silence (`/v1/alert-silences`) when this event was written: recorded, not to
    /// be notified.
    #[serde(default)]
    pub silenced: bool,
    /// Set for the changes people make (`STATUS_CHANGED`, `ASSIGNED`, `SEVERITY_CHANGED`,
    /// `COMMENTED`, and `RAISED` by hand); absent for the detectors' own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowChange>,
}

impl AlertEvent {
    /// Whether notification channels should announce this event (neither a backfill nor
    /// silenced).
    pub fn notify(&self) -> bool {
        !self.backfill && !self.silenced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_read_back_from_their_wire_names() {
        for s in AlertSeverity::ALL {
            assert_eq!(AlertSeverity::from_wire(s.as_str()), Some(s));
        }
        assert_eq!(AlertSeverity::from_wire("high"), None);
        assert!(AlertSeverity::ALL.windows(2).all(|w| w[0] < w[1]), "ordered by urgency");
    }

    #[test]
    fn types_read_back_from_their_wire_names_and_serde_agrees() {
        for t in AlertType::ALL {
            assert_eq!(AlertType::from_wire(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).expect("json"), serde_json::json!(t.as_str()));
        }
        assert_eq!(AlertType::from_wire("spike"), None);
    }

    #[test]
    fn change_event_types_follow_the_wire_names() {
        for c in AlertChange::ALL {
            let wire = serde_json::to_value(c).expect("json");
            let name = wire.as_str().expect("string").to_lowercase();
            assert_eq!(c.event_type(), format!("alert_{name}"));
        }
    }
}
