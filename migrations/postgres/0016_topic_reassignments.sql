-- Retroactive topic assignment (docs/models.md "Retroactive assignment"): the topic catalogue
-- as it is now, applied to the feedback stored over a range of event time. A job is asked for
-- through the API and run by one processor at a time, a day of event time after the other;
-- each batch of changed feedback is written here first (what changes, and the rollup
-- corrections), then to ClickHouse, then marked applied, so a crash anywhere is resumed by
-- redoing the unfinished batch exactly as planned (its rollup insert is deduplicated by token,
-- its update sets the same values).

CREATE TABLE topic_reassignments (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    range_from    timestamptz NOT NULL,
    range_to      timestamptz NOT NULL CHECK (range_to > range_from),
    -- the topics applied (the others a feedback has are left as they are)
    topic_ids     uuid[] NOT NULL CHECK (cardinality(topic_ids) > 0),
    status        text NOT NULL DEFAULT 'QUEUED'
                  CHECK (status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED')),
    -- start of the first day not finished yet (range_from until a day is done)
    next_day      timestamptz NOT NULL,
    days_total    integer NOT NULL,
    days_done     integer NOT NULL DEFAULT 0,
    rows_scanned  bigint NOT NULL DEFAULT 0,
    rows_changed  bigint NOT NULL DEFAULT 0,
    topics_added  bigint NOT NULL DEFAULT 0,
    topics_removed bigint NOT NULL DEFAULT 0,
    -- the processor running it, and when it last said so (a stale one is taken over)
    worker        text,
    heartbeat_at  timestamptz,
    error         text,
    requested_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX topic_reassignments_open_idx ON topic_reassignments (created_at) WHERE status IN ('QUEUED', 'RUNNING');

-- One batch of changed feedback: planned (written here), then applied to ClickHouse.
CREATE TABLE topic_reassignment_batches (
    job_id     uuid NOT NULL REFERENCES topic_reassignments (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    day        timestamptz NOT NULL,
    -- {"rows": [{"id", "occurred_at_ms", "topic_ids", "topic_reasons"}], "corrections": [...]};
    -- emptied ('{}') once applied
    plan       jsonb NOT NULL,
    applied    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq)
);
