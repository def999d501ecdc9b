//! Time ranges of analytics queries: a preset (`1h`, `24h`, `7d`, `30d`, `90d`) or explicit
//! `from` / `to` (RFC 3339), and the equally long period just before (for deltas and growth).

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::error::ApiError;

/// Query parameters selecting a time range.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Preset: 1h, 24h, 7d, 30d or 90d (default 24h; empty counts as not given). Not with from/to.
    #[param(inline, value_type = Option<RangePreset>)]
    pub range: Option<String>,
    /// Start (RFC 3339, inclusive).
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive; default now).
    pub to: Option<DateTime<Utc>>,
}

/// The presets, as the document states them (parsed in [`TimeRange::resolve`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum RangePreset {
    #[schema(rename = "1h")]
    Hour,
    #[schema(rename = "24h")]
    Day,
    #[schema(rename = "7d")]
    Week,
    #[schema(rename = "30d")]
    Month,
    #[schema(rename = "90d")]
    Quarter,
}

/// A half-open interval `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Longest explicit range accepted.
pub const MAX_DAYS: i64 = 400;

impl TimeRange {
    /// Resolves the query at `now`; the default is the last 24 hours.
    pub fn resolve(q: &RangeQuery, now: DateTime<Utc>) -> Result<Self, ApiError> {
        // `range=` (empty) is a form left blank, not a preset.
        match (q.range.as_deref().filter(|p| !p.is_empty()), q.from, q.to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err(ApiError::invalid("range", "give either a preset or from/to, not both"))
            }
            (Some(p), None, None) => {
                let d = match p {
                    "1h" => Duration::hours(1),
                    "24h" => Duration::hours(24),
                    "7d" => Duration::days(7),
                    "30d" => Duration::days(30),
                    "90d" => Duration::days(90),
                    _ => return Err(ApiError::invalid("range", "must be 1h, 24h, 7d, 30d or 90d")),
                };
                Ok(Self { from: now - d, to: now })
            }
            (None, Some(from), to) => {
                let to = to.unwrap_or(now);
                if from >= to {
                    return Err(ApiError::invalid("from", "must be before to"));
                }
                if to - from > Duration::days(MAX_DAYS) {
                    return Err(ApiError::invalid("from", "the range may span at most 400 days"));
                }
                Ok(Self { from, to })
            }
            (None, None, Some(_)) => Err(ApiError::invalid("from", "required with to")),
            (None, None, None) => Ok(Self { from: now - Duration::hours(24), to: now }),
        }
    }

    /// The equally long range just before this one.
    pub fn previous(&self) -> Self {
        Self { from: self.from - (self.to - self.from), to: self.from }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_explicit_ranges_and_their_previous_period() {
        let now = Utc::now();
        let r = TimeRange::resolve(&RangeQuery { range: Some("7d".into()), ..Default::default() }, now).expect("7d");
        assert_eq!(r.to - r.from, Duration::days(7));
        assert_eq!(r.previous().to, r.from);
        assert_eq!(r.previous().to - r.previous().from, Duration::days(7));
        let q = RangeQuery { range: None, from: Some(now - Duration::days(2)), to: Some(now - Duration::days(1)) };
        assert_eq!(TimeRange::resolve(&q, now).expect("explicit").to, now - Duration::days(1));
        let bad = |q: RangeQuery| TimeRange::resolve(&q, now).is_err();
        assert!(bad(RangeQuery { range: Some("2w".into()), ..Default::default() }));
        assert!(bad(RangeQuery { range: Some("1h".into()), from: Some(now), to: None }));
        assert!(bad(RangeQuery { range: None, from: Some(now), to: Some(now - Duration::hours(1)) }));
        assert!(bad(RangeQuery { range: None, from: Some(now - Duration::days(500)), to: None }));
        // An empty preset is no preset: the default, or from/to alone.
        let blank = RangeQuery { range: Some(String::new()), ..Default::default() };
        assert_eq!(TimeRange::resolve(&blank, now).expect("blank").from, now - Duration::hours(24));
        let blank_with_from = RangeQuery { range: Some(String::new()), from: Some(now - Duration::days(2)), to: None };
        assert_eq!(TimeRange::resolve(&blank_with_from, now).expect("from").from, now - Duration::days(2));
    }
}
