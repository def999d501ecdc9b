-- Rollups the dashboards read instead of raw rows, each fed by a materialized view on every
-- insert into feedback and summed at merge time (query them with sum()). The same
-- deduplication window as feedback makes a retried insert a no-op here too.
-- Columns: docs/clickhouse.md.

-- hour x topic x channel x sentiment label (a feedback with n topics counts once per topic)
CREATE TABLE IF NOT EXISTS feedback_topic_hourly
(
    hour DateTime('UTC'),
    topic_id UUID,
    channel LowCardinality(String),
    sentiment_label LowCardinality(String),
    feedback_count UInt64,
    sentiment_score_sum Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, topic_id, channel, sentiment_label)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_topic_hourly_mv TO feedback_topic_hourly AS
SELECT
    toStartOfHour(toDateTime(occurred_at, 'UTC')) AS hour,
    topic_id,
    channel,
    sentiment_label,
    count() AS feedback_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback
ARRAY JOIN topic_ids AS topic_id
GROUP BY hour, topic_id, channel, sentiment_label;

-- hour x channel x dominant emotion, with the summed probability of every emotion
CREATE TABLE IF NOT EXISTS feedback_emotion_hourly
(
    hour DateTime('UTC'),
    channel LowCardinality(String),
    dominant_emotion LowCardinality(String),
    feedback_count UInt64,
    anger_sum Float64,
    disgust_sum Float64,
    fear_sum Float64,
    joy_sum Float64,
    neutral_sum Float64,
    sadness_sum Float64,
    surprise_sum Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, channel, dominant_emotion)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_emotion_hourly_mv TO feedback_emotion_hourly AS
SELECT
    toStartOfHour(toDateTime(occurred_at, 'UTC')) AS hour,
    channel,
    dominant_emotion,
    count() AS feedback_count,
    sum(toFloat64(emotion_anger)) AS anger_sum,
    sum(toFloat64(emotion_disgust)) AS disgust_sum,
    sum(toFloat64(emotion_fear)) AS fear_sum,
    sum(toFloat64(emotion_joy)) AS joy_sum,
    sum(toFloat64(emotion_neutral)) AS neutral_sum,
    sum(toFloat64(emotion_sadness)) AS sadness_sum,
    sum(toFloat64(emotion_surprise)) AS surprise_sum
FROM feedback
GROUP BY hour, channel, dominant_emotion;

-- day x channel x customer segment x sentiment label, with the survey answers
CREATE TABLE IF NOT EXISTS feedback_segment_daily
(
    day Date,
    channel LowCardinality(String),
    segment LowCardinality(String),
    sentiment_label LowCardinality(String),
    feedback_count UInt64,
    sentiment_score_sum Float64,
    nps_count UInt64,
    nps_promoters UInt64,
    nps_detractors UInt64,
    csat_count UInt64,
    csat_satisfied UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, channel, segment, sentiment_label)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_segment_daily_mv TO feedback_segment_daily AS
SELECT
    toDate(occurred_at, 'UTC') AS day,
    channel,
    segment,
    sentiment_label,
    count() AS feedback_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum,
    countIf(nps IS NOT NULL) AS nps_count,
    countIf(nps >= 9) AS nps_promoters,
    countIf(nps <= 6) AS nps_detractors,
    countIf(csat IS NOT NULL) AS csat_count,
    countIf(csat >= 4) AS csat_satisfied
FROM feedback
GROUP BY day, channel, segment, sentiment_label;

-- day x channel x journey stage x sentiment label, with the survey answers
CREATE TABLE IF NOT EXISTS feedback_journey_daily
(
    day Date,
    channel LowCardinality(String),
    journey_stage LowCardinality(String),
    sentiment_label LowCardinality(String),
    feedback_count UInt64,
    sentiment_score_sum Float64,
    nps_count UInt64,
    nps_promoters UInt64,
    nps_detractors UInt64,
    csat_count UInt64,
    csat_satisfied UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, channel, journey_stage, sentiment_label)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_journey_daily_mv TO feedback_journey_daily AS
SELECT
    toDate(occurred_at, 'UTC') AS day,
    channel,
    journey_stage,
    sentiment_label,
    count() AS feedback_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum,
    countIf(nps IS NOT NULL) AS nps_count,
    countIf(nps >= 9) AS nps_promoters,
    countIf(nps <= 6) AS nps_detractors,
    countIf(csat IS NOT NULL) AS csat_count,
    countIf(csat >= 4) AS csat_satisfied
FROM feedback
GROUP BY day, channel, journey_stage, sentiment_label;
