//! Evidence a person can act on, gathered when an alert is raised: the most negative feedback
//! of its firing window (ids, times, texts, scores) and what changed — the key phrases and
//! topics of the incident's windows against the same dimension over the baseline period
//! before it (count in the incident, expected count at the baseline's rate, lift).
//!
//! Read from the `feedback` table (distinct ids: a ReplacingMergeTree may hold a duplicate not
//! merged yet). Gathering is best effort: the alert is written without it when ClickHouse
//! fails, and the next update of the alert tries again.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Samples and terms listed.
const SAMPLES: u64 = 5;
const TERMS: u64 = 8;
/// Fewest mentions in the incident for a term to be listed.
const MIN_MENTIONS: u64 = 2;

/// The SQL condition selecting a dimension's feedback, and its bound value.
fn condition(dimension: &BTreeMap<String, String>) -> (&'static str, String) {
    if let Some(c) = dimension.get("channel") {
        ("channel = ?", c.clone())
    } else if let Some(t) = dimension.get("topic_id") {
        ("has(topic_ids, toUUIDOrZero(?))", t.clone())
    } else if let Some(c) = dimension.get("customer_id") {
        ("customer_id = ?", c.clone())
    } else {
        ("? = ''", String::new())
    }
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Sample {
    id: String,
    occurred_at_ms: i64,
    text: String,
    sentiment_score: f32,
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Term {
    term: String,
    incident: u64,
    baseline: u64,
}

/// A term (key phrase or topic) of the incident against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub term: String,
    /// Feedback mentioning it in the incident's windows.
    pub incident: u64,
    /// Expected in the incident's windows at the baseline's rate.
    pub expected: f64,
    /// `incident / max(expected, 0.5)`.
    pub lift: f64,
}

/// Ranks terms by lift (then count): what grew most, not what is always there.
pub fn changes(rows: Vec<(String, u64, u64)>, incident_secs: f64, baseline_secs: f64) -> Vec<Change> {
    let scale = if baseline_secs > 0.0 { incident_secs / baseline_secs } else { 0.0 };
    let mut out: Vec<Change> = rows
        .into_iter()
        .filter(|(_, n, _)| *n >= MIN_MENTIONS)
        .map(|(term, incident, baseline)| {
            let expected = baseline as f64 * scale;
            Change {
                term,
                incident,
                expected: (expected * 100.0).round() / 100.0,
                lift: incident as f64 / expected.max(0.5),
            }
        })
        .collect();
    out.sort_by(|a, b| b.lift.total_cmp(&a.lift).then(b.incident.cmp(&a.incident)).then(a.term.cmp(&b.term)));
    out.truncate(TERMS as usize);
    for c in &mut out {
        c.lift = (c.lift * 100.0).round() / 100.0;
    }
    out
}

/// Gathers the evidence of an incident of `dimension` spanning `[start, end)`, whose firing
/// window is `[fired, fired_end)`, against the `baseline_days` before `start`.
pub async fn gather(
    ch: &clickhouse::Client,
    dimension: &BTreeMap<String, String>,
    fired: DateTime<Utc>,
    fired_end: DateTime<Utc>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    baseline_days: i64,
) -> Result<serde_json::Value, clickhouse::error::Error> {
    let (cond, value) = condition(dimension);
    let samples: Vec<Sample> = ch
        .query(&format!(
            "SELECT toString(id) AS id, toInt64(toUnixTimestamp64Milli(any(occurred_at))) AS occurred_at_ms,
                    substring(any(text), 1, 280) AS text, any(sentiment_score) AS sentiment_score
             FROM feedback
             WHERE {cond} AND occurred_at >= fromUnixTimestamp64Milli(?) AND occurred_at < fromUnixTimestamp64Milli(?)
             GROUP BY id ORDER BY sentiment_score, id LIMIT {SAMPLES}"
        ))
        .bind(&value)
        .bind(fired.timestamp_millis())
        .bind(fired_end.timestamp_millis())
        .fetch_all()
        .await?;
    let baseline_start = start - Duration::days(baseline_days);
    let terms = |expr: &'static str| {
        let sql = format!(
            "SELECT term, uniqExactIf(id, occurred_at >= fromUnixTimestamp64Milli(?)) AS incident,
                    uniqExactIf(id, occurred_at < fromUnixTimestamp64Milli(?)) AS baseline
             FROM feedback ARRAY JOIN {expr} AS term
             WHERE {cond} AND occurred_at >= fromUnixTimestamp64Milli(?) AND occurred_at < fromUnixTimestamp64Milli(?)
             GROUP BY term HAVING incident >= {MIN_MENTIONS}
             ORDER BY incident DESC LIMIT 200"
        );
        ch.query(&sql)
            .bind(start.timestamp_millis())
            .bind(start.timestamp_millis())
            .bind(&value)
            .bind(baseline_start.timestamp_millis())
            .bind(end.timestamp_millis())
            .fetch_all::<Term>()
    };
    let (phrases, topics) = tokio::try_join!(terms("key_phrases"), terms("arrayMap(t -> toString(t), topic_ids)"))?;
    let secs = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_seconds().max(0) as f64;
    let (incident_secs, baseline_secs) = (secs(start, end), secs(baseline_start, start));
    let rows = |t: Vec<Term>| t.into_iter().map(|t| (t.term, t.incident, t.baseline)).collect();
    Ok(serde_json::json!({
        "most_negative": samples.iter().map(|s| serde_json::json!({
            "id": s.id, "occurred_at": DateTime::from_timestamp_millis(s.occurred_at_ms),
            "text": s.text, "sentiment_score": (f64::from(s.sentiment_score) * 1000.0).round() / 1000.0,
        })).collect::<Vec<_>>(),
        "what_changed": {
            "baseline": {"start": baseline_start, "end": start},
            "key_phrases": changes(rows(phrases), incident_secs, baseline_secs),
            "topics": changes(rows(topics), incident_secs, baseline_secs),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_grew_ranks_above_what_is_always_there() {
        // One hour of incident against seven days of baseline (168 hours).
        let rows = vec![
            ("delivery".to_owned(), 30, 168 * 30), // as usual
            ("double charge".to_owned(), 12, 168), // 12 against 1 expected
            ("refund".to_owned(), 8, 0),           // new
            ("rare".to_owned(), 1, 0),             // too few to list
        ];
        let c = changes(rows, 3600.0, 168.0 * 3600.0);
        let terms: Vec<&str> = c.iter().map(|c| c.term.as_str()).collect();
        assert_eq!(terms, ["refund", "double charge", "delivery"]);
        assert_eq!((c[1].incident, c[1].expected, c[1].lift), (12, 1.0, 12.0));
        assert_eq!(c[2].lift, 1.0);
    }

    #[test]
    fn each_dimension_selects_its_feedback() {
        let d = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert_eq!(condition(&d("channel", "email")), ("channel = ?", "email".to_owned()));
        assert!(condition(&d("topic_id", "t")).0.contains("topic_ids"));
        assert_eq!(condition(&BTreeMap::new()).0, "? = ''");
    }
}
