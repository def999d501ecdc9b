-- Retroactive topic assignment (docs/models.md "Retroactive assignment") applies the topic
-- catalogue as it is now to past feedback. When a stored feedback gains or loses a topic, the
-- topic rollups must follow exactly once; they are fed on insert into feedback, and the job
-- changes topic_ids in place (ALTER TABLE feedback UPDATE, which feeds no view). So the job
-- writes each change here as well: one row per feedback and topic, sign +1 (gained) or -1
-- (lost), with the feedback's time, channel, sentiment label and score. The views below add
-- them to the three topic rollups, which therefore count signed (Int64): SummingMergeTree
-- adds the corrections up, a key whose sums reach 0 disappears at the next merge, and every
-- sum over a rollup equals the count from the raw table. A batch is inserted with its own
-- deduplication token, and the same window as feedback makes a retried insert (after a
-- crash) a no-op here and in the views' tables. Kept 90 days as the record of what each job
-- changed.
ALTER TABLE feedback_topic_hourly MODIFY COLUMN feedback_count Int64;
ALTER TABLE feedback_topic_daily MODIFY COLUMN feedback_count Int64;
ALTER TABLE feedback_topic_minute MODIFY COLUMN feedback_count Int64, MODIFY COLUMN negative_count Int64;

CREATE TABLE IF NOT EXISTS feedback_topic_corrections
(
    job_id UUID COMMENT 'the reassignment job (Postgres topic_reassignments.id)',
    id UUID COMMENT 'feedback id',
    occurred_at DateTime64(3, 'UTC') COMMENT 'the feedback''s event time',
    channel LowCardinality(String),
    sentiment_label LowCardinality(String),
    sentiment_score Float32,
    topic_id UUID COMMENT 'the topic gained or lost',
    sign Int8 COMMENT '+1: the feedback gained the topic; -1: it lost it',
    corrected_at DateTime('UTC') DEFAULT now('UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, id, topic_id)
TTL corrected_at + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_topic_corrections_hourly_mv TO feedback_topic_hourly AS
SELECT
    toStartOfHour(toDateTime(occurred_at, 'UTC')) AS hour,
    topic_id,
    channel,
    sentiment_label,
    sum(toInt64(sign)) AS feedback_count,
    sum(sign * toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback_topic_corrections
GROUP BY hour, topic_id, channel, sentiment_label;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_topic_corrections_daily_mv TO feedback_topic_daily AS
SELECT
    toDate(occurred_at, 'UTC') AS day,
    topic_id,
    channel,
    sentiment_label,
    sum(toInt64(sign)) AS feedback_count,
    sum(sign * toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback_topic_corrections
GROUP BY day, topic_id, channel, sentiment_label;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_topic_corrections_minute_mv TO feedback_topic_minute AS
SELECT
    toStartOfMinute(toDateTime(occurred_at, 'UTC')) AS minute,
    topic_id,
    channel,
    sum(toInt64(sign)) AS feedback_count,
    sumIf(toInt64(sign), sentiment_label = 'negative') AS negative_count,
    sum(sign * toFloat64(sentiment_score)) AS sentiment_score_sum
FROM feedback_topic_corrections
GROUP BY minute, topic_id, channel;
