-- rtcx.feedback: one row per enriched feedback event (written by the processors).
-- Column reference: docs/clickhouse.md.
--
-- ReplacingMergeTree keyed by (channel, hour of occurred_at, id): a redelivered event
-- collapses into one row at merge time (query with FINAL or argMax for exact counts before
-- merges). The deduplication window makes a retried insert with the same
-- insert_deduplication_token a no-op, which is how the processors keep counts exact.
CREATE TABLE IF NOT EXISTS feedback
(
    id UUID COMMENT 'rtcx feedback id (UUIDv7, or UUIDv5 from source + idempotency key / external id)',
    occurred_at DateTime64(3, 'UTC') COMMENT 'event time: when the customer gave the feedback',
    received_at DateTime64(3, 'UTC') COMMENT 'when ingest (or a direct Kafka producer) received it',
    processed_at DateTime64(3, 'UTC') COMMENT 'when the processors enriched it (version column of the ReplacingMergeTree)',
    channel LowCardinality(String) COMMENT 'web, mobile_app, email, chat, social, survey, call_center',
    source LowCardinality(String) COMMENT 'integration that sent it (API key source, public, or producer name)',
    text String COMMENT 'feedback text, trimmed',
    rating Nullable(UInt8) COMMENT 'star rating 1-5',
    nps Nullable(UInt8) COMMENT 'NPS answer 0-10',
    csat Nullable(UInt8) COMMENT 'CSAT answer 1-5',
    customer_id String COMMENT 'customer id in the sender system; empty when unknown',
    segment LowCardinality(String) COMMENT 'customer segment; empty when unknown',
    journey_stage LowCardinality(String) COMMENT 'customer-journey stage; empty when unknown',
    language LowCardinality(String) COMMENT 'detected language (BCP 47)',
    metadata Map(String, String) COMMENT 'free-form attributes from the sender',
    external_id String COMMENT 'id in the sender system; empty when none',
    anonymous Bool COMMENT 'true when submitted through the public (unauthenticated) endpoint',
    sentiment_label LowCardinality(String) COMMENT 'negative, neutral, positive',
    sentiment_score Float32 COMMENT 'polarity in [-1, 1]: P(positive) - P(negative)',
    sentiment_confidence Float32 COMMENT 'probability of sentiment_label',
    emotion_anger Float32 COMMENT 'P(anger)',
    emotion_disgust Float32 COMMENT 'P(disgust)',
    emotion_fear Float32 COMMENT 'P(fear)',
    emotion_joy Float32 COMMENT 'P(joy)',
    emotion_neutral Float32 COMMENT 'P(neutral)',
    emotion_sadness Float32 COMMENT 'P(sadness)',
    emotion_surprise Float32 COMMENT 'P(surprise)',
    dominant_emotion LowCardinality(String) COMMENT 'most probable emotion',
    key_phrases Array(String) COMMENT 'key phrases, most salient first',
    topic_ids Array(UUID) COMMENT 'catalogue topics assigned (Postgres topics.id)',
    model_name LowCardinality(String) COMMENT 'model that produced sentiment/emotion (lexicon-* for the rule-based fallback)',
    model_version LowCardinality(String) COMMENT 'model version',
    INDEX idx_customer_id customer_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_id id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(processed_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (channel, toStartOfHour(occurred_at), id)
SETTINGS non_replicated_deduplication_window = 10000;
