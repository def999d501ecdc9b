//! Window series read from the minute rollups (`feedback_minute`, `feedback_topic_minute`,
//! migration 0007): one dense series of [`WindowStats`] per dimension, windows aligned to
//! multiples of the window width since the Unix epoch, empty windows counted as zero.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use crate::rules::{Scope, WindowStats};

/// Every series of a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Start of the first window.
    pub start: DateTime<Utc>,
    pub window_secs: u64,
    /// Windows per series.
    pub len: usize,
    pub global: Vec<WindowStats>,
    /// By channel name.
    pub channels: BTreeMap<String, Vec<WindowStats>>,
    /// By topic id.
    pub topics: BTreeMap<String, Vec<WindowStats>>,
}

impl History {
    /// The series of a scope with their dimension, e.g. `{"channel": "email"}`.
    pub fn series(&self, scope: Scope) -> Vec<(BTreeMap<String, String>, &Vec<WindowStats>)> {
        match scope {
            Scope::Global => vec![(BTreeMap::new(), &self.global)],
            Scope::Channel => keyed("channel", &self.channels),
            Scope::Topic => keyed("topic_id", &self.topics),
        }
    }

    /// Start of window `w`.
    pub fn window_start(&self, w: usize) -> DateTime<Utc> {
        self.start + chrono::Duration::seconds((w as u64 * self.window_secs) as i64)
    }
}

fn keyed<'a>(
    key: &str,
    m: &'a BTreeMap<String, Vec<WindowStats>>,
) -> Vec<(BTreeMap<String, String>, &'a Vec<WindowStats>)> {
    m.iter().map(|(k, v)| (BTreeMap::from([(key.to_owned(), k.clone())]), v)).collect()
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Row {
    t: u32,
    key: String,
    count: f64,
    negatives: f64,
    sentiment_sum: f64,
    sentiment_sq_sum: f64,
    csat_count: f64,
    csat_sum: f64,
    csat_sq_sum: f64,
    lexicon: f64,
}

impl Row {
    fn stats(&self) -> WindowStats {
        WindowStats {
            count: self.count,
            negatives: self.negatives,
            sentiment_sum: self.sentiment_sum,
            sentiment_sq_sum: self.sentiment_sq_sum,
            csat_count: self.csat_count,
            csat_sum: self.csat_sum,
            csat_sq_sum: self.csat_sq_sum,
            lexicon: self.lexicon,
            others: 0.0,
        }
    }
}

fn add(a: &mut WindowStats, b: &WindowStats) {
    a.count += b.count;
    a.negatives += b.negatives;
    a.sentiment_sum += b.sentiment_sum;
    a.sentiment_sq_sum += b.sentiment_sq_sum;
    a.csat_count += b.csat_count;
    a.csat_sum += b.csat_sum;
    a.csat_sq_sum += b.csat_sq_sum;
    a.lexicon += b.lexicon;
    a.others += b.others;
}

/// Errors reading history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("the window width must be a whole number of minutes, 1 to 1440")]
    Window,
    #[error("the range must end after it starts and span at most 40 days")]
    Range,
}

const CHANNEL_SQL: &str = "
SELECT toUInt32(toUnixTimestamp(toStartOfInterval(minute, toIntervalSecond(?)))) AS t, toString(channel) AS key,
       toFloat64(sum(feedback_count)) AS count, toFloat64(sum(negative_count)) AS negatives,
       sum(sentiment_score_sum) AS sentiment_sum, sum(sentiment_score_sq_sum) AS sentiment_sq_sum,
       toFloat64(sum(csat_count)) AS csat_count, toFloat64(sum(csat_sum)) AS csat_sum,
       toFloat64(sum(csat_sq_sum)) AS csat_sq_sum, toFloat64(sum(lexicon_count)) AS lexicon
FROM feedback_minute
WHERE minute >= toDateTime(?, 'UTC') AND minute < toDateTime(?, 'UTC')
GROUP BY t, key";

const TOPIC_SQL: &str = "
SELECT toUInt32(toUnixTimestamp(toStartOfInterval(minute, toIntervalSecond(?)))) AS t, toString(topic_id) AS key,
       toFloat64(sum(feedback_count)) AS count, toFloat64(sum(negative_count)) AS negatives,
       sum(sentiment_score_sum) AS sentiment_sum, 0.0 AS sentiment_sq_sum,
       0.0 AS csat_count, 0.0 AS csat_sum, 0.0 AS csat_sq_sum, 0.0 AS lexicon
FROM feedback_topic_minute
WHERE minute >= toDateTime(?, 'UTC') AND minute < toDateTime(?, 'UTC')
GROUP BY t, key";

/// Reads the windows of `[from, to)` (`from` rounded down, `to` up to whole windows).
pub async fn load(
    ch: &clickhouse::Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window_secs: u64,
) -> Result<History, HistoryError> {
    if !(60..=86_400).contains(&window_secs) || !window_secs.is_multiple_of(60) {
        return Err(HistoryError::Window);
    }
    let w = window_secs as i64;
    let start = from.timestamp().div_euclid(w) * w;
    let end = (to.timestamp() + w - 1).div_euclid(w) * w;
    if end <= start || end - start > 40 * 86_400 {
        return Err(HistoryError::Range);
    }
    let len = ((end - start) / w) as usize;
    let read = |sql: &'static str| ch.query(sql).bind(window_secs).bind(start).bind(end).fetch_all::<Row>();
    let (channel_rows, topic_rows) = (read(CHANNEL_SQL).await?, read(TOPIC_SQL).await?);
    let mut history = History {
        start: Utc.timestamp_opt(start, 0).single().ok_or(HistoryError::Range)?,
        window_secs,
        len,
        global: vec![WindowStats::default(); len],
        channels: BTreeMap::new(),
        topics: BTreeMap::new(),
    };
    let index = |t: u32| usize::try_from((i64::from(t) - start) / w).ok().filter(|i| *i < len);
    for r in &channel_rows {
        let Some(i) = index(r.t) else { continue };
        let s = r.stats();
        add(&mut history.global[i], &s);
        add(&mut history.channels.entry(r.key.clone()).or_insert_with(|| vec![WindowStats::default(); len])[i], &s);
    }
    for r in &topic_rows {
        let Some(i) = index(r.t) else { continue };
        add(
            &mut history.topics.entry(r.key.clone()).or_insert_with(|| vec![WindowStats::default(); len])[i],
            &r.stats(),
        );
    }
    Ok(history)
}
