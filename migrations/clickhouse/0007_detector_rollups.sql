-- Minute-level event-time rollups the spike detectors read (docs/alerts.md): a window of any
-- width is a sum of minutes. Fed like the other rollups by materialized views on every insert
-- into feedback, with the same deduplication window, so a retried insert counts once here
-- too. Kept 35 days (a week of hourly baselines plus four weeks of weekly ones); whole daily
-- partitions are dropped when they expire.

-- minute x channel x segment
CREATE TABLE IF NOT EXISTS feedback_minute
(
    minute DateTime('UTC'),
    channel LowCardinality(String),
    segment LowCardinality(String),
    feedback_count UInt64,
    negative_count UInt64,
    positive_count UInt64,
    sentiment_score_sum Float64,
    sentiment_score_sq_sum Float64,
    csat_count UInt64,
    csat_sum UInt64,
    csat_sq_sum UInt64,
    nps_count UInt64,
    nps_detractors UInt64,
    lexicon_count UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (minute, channel, segment)
TTL minute + INTERVAL 35 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_minute_mv TO feedback_minute AS
SELECT
    toStartOfMinute(toDateTime(occurred_at, 'UTC')) AS minute,
    channel,
    segment,
    count() AS feedback_count,
    countIf(sentiment_label = 'negative') AS negative_count,
    countIf(sentiment_label = 'positive') AS positive_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum,
    sum(toFloat64(sentiment_score) * toFloat64(sentiment_score)) AS sentiment_score_sq_sum,
    countIf(csat IS NOT NULL) AS csat_count,
    sum(toUInt64(ifNull(csat, 0))) AS csat_sum,
    sum(toUInt64(ifNull(csat, 0)) * toUInt64(ifNull(csat, 0))) AS csat_sq_sum,
    countIf(nps IS NOT NULL) AS nps_count,
    countIf(nps <= 6) AS nps_detractors,
    countIf(startsWith(model_name, 'lexicon')) AS lexicon_count
FROM feedback
GROUP BY minute, channel, segment;

-- minute x topic x channel (a feedback with n topics counts once per topic)
CREATE TABLE IF NOT EXISTS feedback_topic_minute
(
    minute DateTime('UTC'),
    topic_id UUID,
    channel LowCardinality(String),
    feedback_count UInt64,
    negative_count UInt64,
    sentiment_score_sum Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (minute, topic_id, channel)
TTL minute + INTERVAL 35 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_topic_minute_mv TO feedback_topic_minute AS
SELECT
    toStartOfMinute(toDateTime(occurred_at, 'UTC')) AS minute,
    topic_id,
    channel,
    count() AS feedback_count,
    countIf(sentiment_label = 'negative') AS negative_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback
ARRAY JOIN topic_ids AS topic_id
GROUP BY minute, topic_id, channel;

-- Rows of the last 35 days stored before the views existed (inserts that land while this
-- runs are counted by the views and excluded here by their server-side insert time).
INSERT INTO feedback_minute
SELECT
    toStartOfMinute(toDateTime(occurred_at, 'UTC')) AS minute,
    channel,
    segment,
    count() AS feedback_count,
    countIf(sentiment_label = 'negative') AS negative_count,
    countIf(sentiment_label = 'positive') AS positive_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum,
    sum(toFloat64(sentiment_score) * toFloat64(sentiment_score)) AS sentiment_score_sq_sum,
    countIf(csat IS NOT NULL) AS csat_count,
    sum(toUInt64(ifNull(csat, 0))) AS csat_sum,
    sum(toUInt64(ifNull(csat, 0)) * toUInt64(ifNull(csat, 0))) AS csat_sq_sum,
    countIf(nps IS NOT NULL) AS nps_count,
    countIf(nps <= 6) AS nps_detractors,
    countIf(startsWith(model_name, 'lexicon')) AS lexicon_count
FROM feedback
WHERE occurred_at >= now() - INTERVAL 35 DAY
  AND stored_at < (SELECT min(metadata_modification_time) FROM system.tables
                   WHERE database = currentDatabase() AND name = 'feedback_minute_mv')
GROUP BY minute, channel, segment;

INSERT INTO feedback_topic_minute
SELECT
    toStartOfMinute(toDateTime(occurred_at, 'UTC')) AS minute,
    topic_id,
    channel,
    count() AS feedback_count,
    countIf(sentiment_label = 'negative') AS negative_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback
ARRAY JOIN topic_ids AS topic_id
WHERE occurred_at >= now() - INTERVAL 35 DAY
  AND stored_at < (SELECT min(metadata_modification_time) FROM system.tables
                   WHERE database = currentDatabase() AND name = 'feedback_topic_minute_mv')
GROUP BY minute, topic_id, channel;
