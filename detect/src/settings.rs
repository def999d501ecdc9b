//! Rules as configured (the `alert_rules` table) and silences (`alert_silences`).
//!
//! A configured rule runs the detector of one built-in rule of [`DEFAULT_RULES`] (its
//! `detector`) under a name of its own, with optional overrides: enabled or not, a sensitivity,
//! a minimum volume per window, the pending windows, and a scope (only these channels / topics).
//! The evaluator reads the table at every tick, so changes apply without a restart; the query
//! API's preview runs a stored or proposed rule through the same [`ConfiguredRule`].
//!
//! A silence mutes matching alerts for a period: they are still detected and recorded (flagged
//! `silenced`), never pushed to notification channels — Alertmanager's semantics.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rtcx_schemas::AlertType;
use serde::{Deserialize, Serialize};

use crate::detectors::{Sensitivity, Thresholds};
use crate::lifecycle::LifecycleParams;
use crate::rules::{Check, DEFAULT_RULES, Rule};

/// Longest pending period a rule may ask for, in windows.
pub const PENDING_MAX: u32 = 12;
/// Largest minimum volume a rule may ask for.
pub const MIN_VOLUME_MAX: u64 = 1_000_000;

/// One row of `alert_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSettings {
    pub name: String,
    /// Name of the built-in rule whose detector this runs.
    pub detector: String,
    pub enabled: bool,
    /// `None`: the evaluator's default (`RTCX_ALERT_SENSITIVITY`).
    pub sensitivity: Option<Sensitivity>,
    /// Fewest events (or answers, for CSAT) a window needs before it can breach; `None`: the
    /// detector's default.
    pub min_volume: Option<u64>,
    /// Consecutive moderate windows before firing; `None`: the sensitivity's.
    pub pending_windows: Option<u32>,
    /// Only these channels (empty: all). Meaningful for channel rules.
    pub channels: Vec<String>,
    /// Only these topics (empty: all). Meaningful for topic rules.
    pub topic_ids: Vec<String>,
}

/// Why settings cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown detector {0:?}; one of the built-in rules: {1}")]
    UnknownDetector(String, String),
    #[error("pending_windows must be 1..={PENDING_MAX}")]
    Pending,
    #[error("min_volume must be 1..={MIN_VOLUME_MAX}")]
    MinVolume,
}

/// The built-in rule named `detector`.
pub fn detector(name: &str) -> Result<&'static Rule, SettingsError> {
    DEFAULT_RULES.iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<&str> = DEFAULT_RULES.iter().map(|r| r.name).collect();
        SettingsError::UnknownDetector(name.to_owned(), names.join(", "))
    })
}

/// A rule ready to run: its detector with the configured parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredRule {
    pub name: String,
    /// The detector, its minimum volume overridden where configured.
    pub rule: Rule,
    pub thresholds: Thresholds,
    pub lifecycle: LifecycleParams,
    pub channels: Vec<String>,
    pub topic_ids: Vec<String>,
}

impl ConfiguredRule {
    /// A built-in rule as shipped, under `sensitivity`.
    pub fn builtin(rule: &Rule, sensitivity: Sensitivity) -> Self {
        let thresholds = sensitivity.thresholds();
        Self {
            name: rule.name.to_owned(),
            rule: *rule,
            thresholds,
            lifecycle: LifecycleParams::for_thresholds(&thresholds),
            channels: Vec::new(),
            topic_ids: Vec::new(),
        }
    }

    /// The whole built-in catalogue under `sensitivity` (what runs when `alert_rules` is empty,
    /// and what `detect backtest` runs).
    pub fn catalogue(sensitivity: Sensitivity) -> Vec<Self> {
        DEFAULT_RULES.iter().map(|r| Self::builtin(r, sensitivity)).collect()
    }

    /// The rule a row configures (enabled or not: callers skip disabled rows).
    pub fn from_settings(s: &RuleSettings, default: Sensitivity) -> Result<Self, SettingsError> {
        let base = detector(&s.detector)?;
        if s.pending_windows.is_some_and(|p| p == 0 || p > PENDING_MAX) {
            return Err(SettingsError::Pending);
        }
        if s.min_volume.is_some_and(|v| v == 0 || v > MIN_VOLUME_MAX) {
            return Err(SettingsError::MinVolume);
        }
        let mut out = Self::builtin(base, s.sensitivity.unwrap_or(default));
        out.name = s.name.clone();
        if let Some(v) = s.min_volume {
            out.rule = with_min_volume(out.rule, v);
        }
        if let Some(p) = s.pending_windows {
            out.lifecycle.pending_windows = p;
        }
        out.channels = s.channels.clone();
        out.topic_ids = s.topic_ids.clone();
        Ok(out)
    }

    /// The enabled time-series rules of `rows` (the churn rule is not one: [`crate::churn`]);
    /// rows that cannot run are reported and skipped.
    pub fn enabled(rows: &[RuleSettings], default: Sensitivity) -> (Vec<Self>, Vec<(String, SettingsError)>) {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for s in rows.iter().filter(|s| s.enabled && s.detector != crate::churn::RULE) {
            match Self::from_settings(s, default) {
                Ok(r) => ok.push(r),
                Err(e) => bad.push((s.name.clone(), e)),
            }
        }
        (ok, bad)
    }

    pub fn alert_type(&self) -> AlertType {
        self.rule.alert_type
    }

    /// Whether the rule watches this dimension (its channel / topic scope).
    pub fn watches(&self, dimension: &BTreeMap<String, String>) -> bool {
        let within = |allowed: &[String], key: &str| {
            allowed.is_empty() || dimension.get(key).is_some_and(|v| allowed.iter().any(|a| a == v))
        };
        within(&self.channels, "channel") && within(&self.topic_ids, "topic_id")
    }
}

/// The detector with its minimum volume per window set to `v`.
pub fn with_min_volume(mut rule: Rule, v: u64) -> Rule {
    rule.check = match rule.check {
        Check::Volume(p) => Check::Volume(crate::detectors::VolumeParams { min_count: v, ..p }),
        Check::TopicVolume(p) => Check::TopicVolume(crate::detectors::VolumeParams { min_count: v, ..p }),
        Check::Negatives(p) => Check::Negatives(crate::detectors::VolumeParams { min_count: v, ..p }),
        Check::Fallback(p) => Check::Fallback(crate::detectors::VolumeParams { min_count: v, ..p }),
        Check::NegativeShare(p) => Check::NegativeShare(crate::detectors::ShareParams { min_volume: v, ..p }),
        Check::Sentiment(p) => Check::Sentiment(crate::detectors::MeanParams { min_volume: v, ..p }),
        Check::Csat(p) => Check::Csat(crate::detectors::MeanParams { min_volume: v, ..p }),
    };
    rule
}

/// The minimum volume per window of a detector.
pub fn min_volume(rule: &Rule) -> u64 {
    match rule.check {
        Check::Volume(p) | Check::TopicVolume(p) | Check::Negatives(p) | Check::Fallback(p) => p.min_count,
        Check::NegativeShare(p) => p.min_volume,
        Check::Sentiment(p) | Check::Csat(p) => p.min_volume,
    }
}

/// Keys a silence may match on.
pub const MATCHER_KEYS: [&str; 4] = ["rule", "alert_type", "channel", "topic_id"];

/// One row of `alert_silences`: alerts matching every key of `matcher` while `starts_at <= t <
/// ends_at` are silenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub matcher: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Silence {
    /// Whether an alert of `rule` (`alert_type`) on `dimension`, at `t`, is silenced.
    pub fn mutes(
        &self,
        rule: &str,
        alert_type: AlertType,
        dimension: &BTreeMap<String, String>,
        t: DateTime<Utc>,
    ) -> bool {
        if t < self.starts_at || t >= self.ends_at || self.matcher.is_empty() {
            return false;
        }
        self.matcher.iter().all(|(k, v)| match k.as_str() {
            "rule" => v == rule,
            "alert_type" => v == alert_type.as_str(),
            _ => dimension.get(k) == Some(v),
        })
    }
}

/// Whether any of `silences` mutes the alert.
pub fn silenced(
    silences: &[Silence],
    rule: &str,
    alert_type: AlertType,
    dimension: &BTreeMap<String, String>,
    t: DateTime<Utc>,
) -> bool {
    silences.iter().any(|s| s.mutes(rule, alert_type, dimension, t))
}

/// Errors reading rules and silences.
#[derive(Debug, thiserror::Error)]
#[error("reading alert rules and silences: {0}")]
pub struct LoadError(#[from] sqlx::Error);

#[derive(sqlx::FromRow)]
struct RuleRow {
    name: String,
    detector: String,
    enabled: bool,
    sensitivity: Option<String>,
    min_volume: Option<i64>,
    pending_windows: Option<i32>,
    channels: Vec<String>,
    topic_ids: Vec<uuid::Uuid>,
}

/// Every row of `alert_rules`, by name.
pub async fn load_rules(pg: &sqlx::PgPool) -> Result<Vec<RuleSettings>, LoadError> {
    let rows: Vec<RuleRow> = sqlx::query_as(
        "SELECT name, detector, enabled, sensitivity, min_volume, pending_windows, channels, topic_ids
         FROM alert_rules ORDER BY name",
    )
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RuleSettings {
            name: r.name,
            detector: r.detector,
            enabled: r.enabled,
            sensitivity: r.sensitivity.as_deref().and_then(Sensitivity::from_wire),
            min_volume: r.min_volume.and_then(|v| u64::try_from(v).ok()),
            pending_windows: r.pending_windows.and_then(|v| u32::try_from(v).ok()),
            channels: r.channels,
            topic_ids: r.topic_ids.iter().map(uuid::Uuid::to_string).collect(),
        })
        .collect())
}

/// The silences not yet ended at `now` (those starting later included).
pub async fn load_silences(pg: &sqlx::PgPool, now: DateTime<Utc>) -> Result<Vec<Silence>, LoadError> {
    let rows: Vec<(serde_json::Value, DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as("SELECT matcher, starts_at, ends_at FROM alert_silences WHERE ends_at > $1")
            .bind(now)
            .fetch_all(pg)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, starts_at, ends_at)| {
            let matcher: BTreeMap<String, String> = serde_json::from_value(m).ok()?;
            Some(Silence { matcher, starts_at, ends_at })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(name: &str, detector: &str) -> RuleSettings {
        RuleSettings {
            name: name.to_owned(),
            detector: detector.to_owned(),
            enabled: true,
            sensitivity: None,
            min_volume: None,
            pending_windows: None,
            channels: Vec::new(),
            topic_ids: Vec::new(),
        }
    }

    #[test]
    fn a_row_without_overrides_is_the_builtin_rule() {
        for r in DEFAULT_RULES {
            let c = ConfiguredRule::from_settings(&settings(r.name, r.name), Sensitivity::Medium).expect("valid");
            assert_eq!(c, ConfiguredRule::builtin(r, Sensitivity::Medium));
        }
    }

    #[test]
    fn overrides_reach_the_detector_and_the_lifecycle() {
        let mut s = settings("email_share", "channel_negative_share");
        s.sensitivity = Some(Sensitivity::High);
        s.min_volume = Some(80);
        s.pending_windows = Some(4);
        s.channels = vec!["email".to_owned()];
        let c = ConfiguredRule::from_settings(&s, Sensitivity::Low).expect("valid");
        assert_eq!(c.name, "email_share");
        assert_eq!(c.thresholds, Sensitivity::High.thresholds());
        assert_eq!(c.lifecycle.pending_windows, 4);
        assert_eq!(min_volume(&c.rule), 80);
        let email = BTreeMap::from([("channel".to_owned(), "email".to_owned())]);
        let web = BTreeMap::from([("channel".to_owned(), "web".to_owned())]);
        assert!(c.watches(&email) && !c.watches(&web) && !c.watches(&BTreeMap::new()));
        for r in DEFAULT_RULES {
            assert_eq!(min_volume(&with_min_volume(*r, 7)), 7, "{}", r.name);
        }
    }

    #[test]
    fn bad_rows_are_refused_and_disabled_rows_skipped() {
        let mut bad = settings("x", "no_such_detector");
        assert!(matches!(
            ConfiguredRule::from_settings(&bad, Sensitivity::Medium),
            Err(SettingsError::UnknownDetector(..))
        ));
        bad.detector = "intake_drop".to_owned();
        bad.pending_windows = Some(0);
        assert_eq!(ConfiguredRule::from_settings(&bad, Sensitivity::Medium), Err(SettingsError::Pending));
        let mut off = settings("off", "intake_drop");
        off.enabled = false;
        let (ok, errors) = ConfiguredRule::enabled(&[bad, off, settings("on", "intake_drop")], Sensitivity::Medium);
        assert_eq!(ok.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["on"]);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn silences_match_every_key_within_their_period() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z").expect("time").with_timezone(&Utc);
        let hour = chrono::Duration::hours(1);
        let email = BTreeMap::from([("channel".to_owned(), "email".to_owned())]);
        let s = Silence {
            matcher: BTreeMap::from([
                ("channel".to_owned(), "email".to_owned()),
                ("alert_type".to_owned(), "SENTIMENT_SPIKE".to_owned()),
            ]),
            starts_at: t - hour,
            ends_at: t + hour,
        };
        assert!(s.mutes("channel_negative_share", AlertType::SentimentSpike, &email, t));
        assert!(!s.mutes("channel_negative_share", AlertType::SentimentSpike, &email, t + hour), "ended");
        assert!(!s.mutes("channel_negative_share", AlertType::HighVolumeNegative, &email, t), "other type");
        assert!(!s.mutes("negative_share", AlertType::SentimentSpike, &BTreeMap::new(), t), "no channel");
        let empty = Silence { matcher: BTreeMap::new(), ..s.clone() };
        assert!(!silenced(&[empty], "r", AlertType::SentimentSpike, &email, t), "an empty matcher mutes nothing");
    }
}
