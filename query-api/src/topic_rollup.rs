//! Reading the topic rollups over a span of hours: whole UTC days from
//! `feedback_topic_daily`, the partial first and last day from `feedback_topic_hourly`, so a
//! 90-day question reads ~90 daily rows per topic × channel × label instead of ~2 160 hourly
//! ones, with the same answer (a test checks both against rows counted directly).

use chrono::{DateTime, Duration, DurationRound, Utc};

/// A subquery of topic-rollup rows (`topic_id, channel, sentiment_label, feedback_count,
/// sentiment_score_sum`) whose hour falls in a [`HourSpan`]; bind it with [`HourSpan::bind`].
pub const SPAN_ROWS: &str = "SELECT topic_id, channel, sentiment_label, feedback_count, sentiment_score_sum \
     FROM feedback_topic_hourly WHERE (hour >= fromUnixTimestamp(?) AND hour < fromUnixTimestamp(?)) \
        OR (hour >= fromUnixTimestamp(?) AND hour < fromUnixTimestamp(?)) \
     UNION ALL \
     SELECT topic_id, channel, sentiment_label, feedback_count, sentiment_score_sum \
     FROM feedback_topic_daily WHERE day >= toDate(fromUnixTimestamp(?), 'UTC') AND day < toDate(fromUnixTimestamp(?), 'UTC')";

/// The hourly buckets starting in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourSpan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn floor(t: DateTime<Utc>, unit: Duration) -> DateTime<Utc> {
    t.duration_trunc(unit).unwrap_or(t)
}

impl HourSpan {
    /// Buckets from the one containing `from` to those starting before `to`.
    pub fn covering(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self { from: floor(from, Duration::hours(1)), to }
    }

    /// The whole days `[d0, d1)` inside the span (`d0 == d1 == from` when there is none).
    pub fn whole_days(self) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = floor(self.from, Duration::days(1));
        let d0 = if day == self.from { day } else { day + Duration::days(1) };
        let d1 = floor(self.to, Duration::days(1));
        if d1 > d0 { (d0, d1) } else { (self.from, self.from) }
    }

    /// Binds [`SPAN_ROWS`]'s six placeholders.
    pub fn bind(self, q: clickhouse::query::Query) -> clickhouse::query::Query {
        let (d0, d1) = self.whole_days();
        q.bind(self.from.timestamp())
            .bind(d0.timestamp())
            .bind(d1.timestamp())
            .bind(self.to.timestamp())
            .bind(d0.timestamp())
            .bind(d1.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn whole_days_lie_inside_the_span_and_short_spans_have_none() {
        let s = HourSpan::covering(t("2026-08-31T10:25:00Z"), t("2026-11-29T10:25:00Z"));
        assert_eq!(s.from, t("2026-08-31T10:00:00Z"));
        assert_eq!(s.whole_days(), (t("2026-09-01T00:00:00Z"), t("2026-11-29T00:00:00Z")));
        let midnight = HourSpan::covering(t("2026-11-01T00:00:00Z"), t("2026-11-03T00:00:00Z"));
        assert_eq!(midnight.whole_days(), (t("2026-11-01T00:00:00Z"), t("2026-11-03T00:00:00Z")));
        let short = HourSpan::covering(t("2026-11-28T10:25:00Z"), t("2026-11-29T10:25:00Z"));
        assert_eq!(short.whole_days(), (short.from, short.from), "no whole day in 24 h across midnight");
    }
}
