//! Time ranges of analytics queries: a preset (`1h`, `24h`, `7d`, `30d`, `90d`) or explicit
//! `from` / `to` (RFC 3339), and the equally long period just before (for deltas and growth).

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::error::ApiError;

/// Query parameters selecting a time range.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Preset: 1h, 24h, 7d, 30d or 90d (default 24h). Not with from/to.
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

/// Explicit times must lie in `[EARLIEST, LATEST)` (Unix seconds: 2000-01-01 and 2100-01-01).
/// Feedback is never older (ingest refuses it) and ClickHouse's `DateTime` ends in 2106: a
/// time past it wrapped around, and a trend "filled" from 1970 to 2106 by the hour took the
/// database down (found by the fuzzing campaign).
pub const EARLIEST: i64 = 946_684_800;
pub const LATEST: i64 = 4_102_444_800;

impl TimeRange {
    /// Resolves the query at `now`; the default is the last 24 hours.
    pub fn resolve(q: &RangeQuery, now: DateTime<Utc>) -> Result<Self, ApiError> {
        match (q.range.as_deref(), q.from, q.to) {
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
            (None, Some(from), to) => Self::explicit(from, to, now),
            (None, None, Some(_)) => Err(ApiError::invalid("from", "required with to")),
            (None, None, None) => Ok(Self { from: now - Duration::hours(24), to: now }),
        }
    }

    /// An explicit range `[from, to)` (`to` defaults to `now`): both times between 2000-01-01
    /// and 2100-01-01, `from` first, at most [`MAX_DAYS`] days long.
    pub fn explicit(from: DateTime<Utc>, to: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let to = to.unwrap_or(now);
        for (field, t) in [("from", from), ("to", to)] {
            if !(EARLIEST..LATEST).contains(&t.timestamp()) {
                return Err(ApiError::invalid(field, "must lie between 2000-01-01 and 2100-01-01"));
            }
        }
        if from >= to {
            return Err(ApiError::invalid("from", "must be before to"));
        }
        if to - from > Duration::days(MAX_DAYS) {
            return Err(ApiError::invalid("from", "the range may span at most 400 days"));
        }
        Ok(Self { from, to })
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
        // Outside what ClickHouse's DateTime holds, even a one-day span is refused.
        let far = DateTime::from_timestamp(LATEST + 86_400, 0).expect("time");
        assert!(bad(RangeQuery { range: None, from: Some(far), to: Some(far + Duration::days(1)) }));
        let old = DateTime::from_timestamp(EARLIEST - 86_400, 0).expect("time");
        assert!(bad(RangeQuery { range: None, from: Some(old), to: Some(old + Duration::days(1)) }));
        // An empty preset is not a preset (the document's enum has no empty value either).
        assert!(bad(RangeQuery { range: Some(String::new()), ..Default::default() }));
    }
}
