-- Event-time progress of the stream: per consumer group and raw-topic partition, the highest
-- event time (occurred_at, capped at the processing time) among the feedback the processors
-- have stored, written after each batch's ClickHouse insert. The alert evaluator derives
-- its watermark from these rows (docs/alerts.md): the minimum over active partitions minus
-- an allowed lateness.
CREATE TABLE event_time_watermarks (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    kafka_partition integer NOT NULL CHECK (kafka_partition >= 0),
    max_event_time timestamptz NOT NULL,
    last_offset    bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);
