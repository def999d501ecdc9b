-- API keys for integrations. The key is shown once at creation; only its SHA-256 is stored.
-- Ingest loads (key_hash, scopes, source) of non-revoked keys into memory and refreshes them.

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    source       text NOT NULL CHECK (source ~ '^[A-Za-z0-9._:-]{1,128}$'),  -- stamped on events as `source`
    prefix       text NOT NULL,                          -- first characters, to recognise a key in lists
    key_hash     bytea NOT NULL CHECK (length(key_hash) = 32),
    scopes       text[] NOT NULL DEFAULT '{ingest}' CHECK (scopes <@ ARRAY['ingest', 'read']::text[] AND cardinality(scopes) > 0),
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_active_idx ON api_keys (created_at) WHERE revoked_at IS NULL;

-- Per-key usage, persisted periodically by ingest (counters are also Prometheus metrics).
CREATE TABLE api_key_usage (
    api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    day        date NOT NULL,
    accepted   bigint NOT NULL DEFAULT 0 CHECK (accepted >= 0),
    rejected   bigint NOT NULL DEFAULT 0 CHECK (rejected >= 0),
    PRIMARY KEY (api_key_id, day)
);
