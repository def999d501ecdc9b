-- rtcx.feedback.stored_at: when the row reached ClickHouse (filled by the server at insert),
-- so that end-to-end latency (stored_at - received_at) can be read with SQL.
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS stored_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when the row was inserted into ClickHouse (server time)';
