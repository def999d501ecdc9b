-- day x topic x channel x sentiment label: what long windows (drivers over 30 or 90 days) read
-- for their whole days, instead of 24 times as many hourly rows; the partial first and last
-- day still come from feedback_topic_hourly. Fed like the other rollups by a materialized
-- view on every insert into feedback, with the same deduplication window.
CREATE TABLE IF NOT EXISTS feedback_topic_daily
(
    day Date,
    topic_id UUID,
    channel LowCardinality(String),
    sentiment_label LowCardinality(String),
    feedback_count UInt64,
    sentiment_score_sum Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, topic_id, channel, sentiment_label)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_topic_daily_mv TO feedback_topic_daily AS
SELECT
    toDate(occurred_at, 'UTC') AS day,
    topic_id,
    channel,
    sentiment_label,
    count() AS feedback_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback
ARRAY JOIN topic_ids AS topic_id
GROUP BY day, topic_id, channel, sentiment_label;

-- Rows stored before the view existed. Inserts that land while this runs are counted by the
-- view and excluded here by their server-side insert time (stored_at, migration 0005).
INSERT INTO feedback_topic_daily
SELECT
    toDate(occurred_at, 'UTC') AS day,
    topic_id,
    channel,
    sentiment_label,
    count() AS feedback_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback
ARRAY JOIN topic_ids AS topic_id
WHERE stored_at < (SELECT min(metadata_modification_time) FROM system.tables
                   WHERE database = currentDatabase() AND name = 'feedback_topic_daily_mv')
GROUP BY day, topic_id, channel, sentiment_label;
