//! The event-time watermark: up to when every window is complete.
//!
//! The minimum, over the partitions that are active, of the highest event time stored from
//! each ([`crate::pipeline::watermarks`]), minus an allowed lateness (default 2 minutes): a
//! window is evaluated once the watermark passes its end ("emit on window close"). A
//! partition that stored nothing for longer than the idle timeout stops holding the
//! watermark back — unless it has a backlog (messages the group has not consumed: a processor
//! catching up after an outage), which holds the watermark at its mark; when every partition is idle (no traffic at all — exactly when an intake
//! outage must still be detected) the watermark follows the wall clock: now minus the idle
//! timeout and the lateness. Events later than the lateness are still stored and counted in the rollups;
//! a window already evaluated is not evaluated again, and the run the evaluator keeps between
//! ticks ([`rtcx_detect::live`]) does not re-read it: a late event reaches the baselines when
//! that run is next rebuilt from the rollups (a take-over, a rule change, or after twice the
//! history). A partition with a backlog that has stored nothing yet holds every window (see
//! [`watermark`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::pipeline::watermarks::PartitionMark;

/// Watermark settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkParams {
    pub lateness: Duration,
    pub idle_timeout: Duration,
}

impl Default for WatermarkParams {
    fn default() -> Self {
        Self { lateness: Duration::minutes(2), idle_timeout: Duration::minutes(5) }
    }
}

/// The watermark at `now` from the partitions' marks; a partition in `backlog` (messages not
/// consumed yet, [`super::backlog`]) is active however long ago it stored something. `None`
/// while a partition with a backlog has stored nothing yet (a new consumer group, a new
/// partition): the event times of its messages are unknown, so no window may close — else the
/// windows of a replayed or first-consumed history would be judged before their events are
/// stored, and their baselines would stay empty.
pub fn watermark(
    marks: &[PartitionMark],
    backlog: &BTreeSet<i32>,
    now: DateTime<Utc>,
    p: WatermarkParams,
) -> Option<DateTime<Utc>> {
    if backlog.iter().any(|b| !marks.iter().any(|m| m.kafka_partition == *b)) {
        return None;
    }
    let active = marks
        .iter()
        .filter(|m| now - m.updated_at <= p.idle_timeout || backlog.contains(&m.kafka_partition))
        .map(|m| m.max_event_time.min(now))
        .min();
    Some(active.unwrap_or(now - p.idle_timeout) - p.lateness)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(p: i32, event_secs_ago: i64, updated_secs_ago: i64, now: DateTime<Utc>) -> PartitionMark {
        PartitionMark {
            kafka_partition: p,
            max_event_time: now - Duration::seconds(event_secs_ago),
            updated_at: now - Duration::seconds(updated_secs_ago),
        }
    }

    #[test]
    fn the_slowest_active_partition_holds_the_watermark() {
        let now = Utc::now();
        let p = WatermarkParams::default();
        let marks = [mark(0, 10, 1, now), mark(1, 70, 2, now)];
        assert_eq!(watermark(&marks, &BTreeSet::new(), now, p), Some(now - Duration::seconds(70) - p.lateness));
    }

    #[test]
    fn an_idle_partition_stops_holding_it_back() {
        let now = Utc::now();
        let p = WatermarkParams::default();
        let marks = [mark(0, 10, 1, now), mark(1, 3600, 3600, now)];
        assert_eq!(watermark(&marks, &BTreeSet::new(), now, p), Some(now - Duration::seconds(10) - p.lateness));
        // Unless it has a backlog: a processor catching up holds the watermark at its mark.
        assert_eq!(watermark(&marks, &BTreeSet::from([1]), now, p), Some(now - Duration::seconds(3600) - p.lateness));
    }

    #[test]
    fn a_backlog_not_stored_from_yet_holds_every_window() {
        // A new group starting on a topic with history: nothing stored from partition 2 yet.
        let now = Utc::now();
        let p = WatermarkParams::default();
        let marks = [mark(0, 10, 1, now), mark(1, 10, 1, now)];
        assert_eq!(watermark(&marks, &BTreeSet::from([2]), now, p), None);
        assert_eq!(watermark(&[], &BTreeSet::from([0]), now, p), None);
    }

    #[test]
    fn without_traffic_it_follows_the_wall_clock() {
        let now = Utc::now();
        let p = WatermarkParams::default();
        let wall = Some(now - p.idle_timeout - p.lateness);
        assert_eq!(watermark(&[mark(0, 3600, 3600, now)], &BTreeSet::new(), now, p), wall);
        assert_eq!(watermark(&[], &BTreeSet::new(), now, p), wall);
    }

    #[test]
    fn an_event_time_ahead_of_now_does_not_move_it_past_now() {
        let now = Utc::now();
        let p = WatermarkParams::default();
        assert_eq!(watermark(&[mark(0, -600, 0, now)], &BTreeSet::new(), now, p), Some(now - p.lateness));
    }
}
