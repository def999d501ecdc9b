-- rtcx.feedback_hourly: counts and sums per hour x channel x sentiment label, fed by a
-- materialized view on every insert into feedback. Query it with sum(): rows with the same key
-- are only summed at merge time. The deduplication window (with the default
-- deduplicate_blocks_in_dependent_materialized_views = 1) makes a retried insert into
-- feedback a no-op here too.
CREATE TABLE IF NOT EXISTS feedback_hourly
(
    hour DateTime('UTC') COMMENT 'start of the hour of occurred_at',
    channel LowCardinality(String),
    sentiment_label LowCardinality(String),
    feedback_count UInt64 COMMENT 'number of feedback events',
    sentiment_score_sum Float64 COMMENT 'sum of sentiment_score (average = sum / feedback_count)',
    rating_count UInt64 COMMENT 'events with a star rating',
    rating_sum UInt64 COMMENT 'sum of star ratings',
    nps_count UInt64 COMMENT 'events with an NPS answer',
    nps_promoters UInt64 COMMENT 'NPS answers 9-10',
    nps_detractors UInt64 COMMENT 'NPS answers 0-6',
    csat_count UInt64 COMMENT 'events with a CSAT answer',
    csat_sum UInt64 COMMENT 'sum of CSAT answers',
    csat_satisfied UInt64 COMMENT 'CSAT answers 4-5'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, channel, sentiment_label)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_hourly_mv TO feedback_hourly AS
SELECT
    toStartOfHour(toDateTime(occurred_at, 'UTC')) AS hour,
    channel,
    sentiment_label,
    count() AS feedback_count,
    sum(toFloat64(sentiment_score)) AS sentiment_score_sum,
    countIf(rating IS NOT NULL) AS rating_count,
    sum(toUInt64(ifNull(rating, 0))) AS rating_sum,
    countIf(nps IS NOT NULL) AS nps_count,
    countIf(nps >= 9) AS nps_promoters,
    countIf(nps <= 6) AS nps_detractors,
    countIf(csat IS NOT NULL) AS csat_count,
    sum(toUInt64(ifNull(csat, 0))) AS csat_sum,
    countIf(csat >= 4) AS csat_satisfied
FROM feedback
GROUP BY hour, channel, sentiment_label;
