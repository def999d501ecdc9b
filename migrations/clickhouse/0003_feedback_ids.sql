-- rtcx.feedback_ids: every feedback id the processors have written, with when. Fed by a
-- materialized view on every insert into feedback, so an id is here exactly when its row
-- is. Before each insert the processors look up the batch's ids here and drop those already
-- present: a redelivered Kafka message (crash before the offset commit, rebalance, retried
-- insert that partly succeeded) and an event sent twice with the same idempotency key or
-- external id (same UUIDv5) are counted once, in feedback and in every rollup.
-- Sorted by id with small granules so that a lookup of a batch reads little; the TTL bounds
-- the table (a duplicate older than this is no longer recognised; see docs/architecture.md).
-- kafka_partition / kafka_offset on feedback record where each row came from.
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS kafka_partition Int32 DEFAULT -1 COMMENT 'partition of the raw topic the event was read from (-1: not from Kafka)';
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS kafka_offset Int64 DEFAULT -1 COMMENT 'offset of the event in that partition';

CREATE TABLE IF NOT EXISTS feedback_ids
(
    id UUID COMMENT 'feedback id',
    inserted_at DateTime('UTC') COMMENT 'when the row was written to feedback'
)
ENGINE = ReplacingMergeTree
ORDER BY id
TTL inserted_at + INTERVAL 30 DAY
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_ids_mv TO feedback_ids AS
SELECT id, now('UTC') AS inserted_at
FROM feedback;
