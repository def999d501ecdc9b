-- Alert rules and silences, read by the processors' evaluator at every tick (changes apply
-- without a restart), and what the alert workflow of the query API needs (docs/alerts.md).

-- A rule runs the detector of a built-in rule (`detector`, a name of the processors'
-- catalogue) under its own name, with optional overrides (NULL: the default).
CREATE TABLE alert_rules (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    detector        text NOT NULL,
    builtin         boolean NOT NULL DEFAULT false,     -- shipped: may be changed, not deleted
    enabled         boolean NOT NULL DEFAULT true,
    sensitivity     text CHECK (sensitivity IN ('low', 'medium', 'high')),
    min_volume      bigint CHECK (min_volume BETWEEN 1 AND 1000000),
    pending_windows integer CHECK (pending_windows BETWEEN 1 AND 12),
    channels        text[] NOT NULL DEFAULT '{}',       -- empty: every channel
    topic_ids       uuid[] NOT NULL DEFAULT '{}',       -- empty: every topic
    description     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      uuid REFERENCES users (id) ON DELETE SET NULL
);

-- The built-in catalogue (processors' `rtcx_detect::rules::DEFAULT_RULES`; a test checks
-- that both agree).
INSERT INTO alert_rules (name, detector, builtin, description) VALUES
    ('negative_share', 'negative_share', true, 'Share of negative feedback, all channels together, far above its baseline'),
    ('channel_negative_share', 'channel_negative_share', true, 'Share of negative feedback of a channel far above its baseline'),
    ('channel_negative_volume', 'channel_negative_volume', true, 'Negative feedback of a channel surging'),
    ('topic_volume', 'topic_volume', true, 'A topic mentioned far more than expected'),
    ('channel_volume_drop', 'channel_volume_drop', true, 'A channel''s volume collapsing (a broken integration)'),
    ('channel_sentiment_drop', 'channel_sentiment_drop', true, 'A channel''s mean sentiment dropping'),
    ('channel_csat_drop', 'channel_csat_drop', true, 'A channel''s mean CSAT dropping'),
    ('intake_drop', 'intake_drop', true, 'Intake near zero against its baseline'),
    ('model_fallback', 'model_fallback', true, 'Texts analysed by the lexicon fallback instead of the model');

-- Silences: alerts matching every key of `matcher` (rule, alert_type, channel, topic_id)
-- between starts_at and ends_at are recorded but not notified.
CREATE TABLE alert_silences (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    matcher    jsonb NOT NULL CHECK (jsonb_typeof(matcher) = 'object' AND matcher <> '{}'::jsonb),
    starts_at  timestamptz NOT NULL DEFAULT now(),
    ends_at    timestamptz NOT NULL,
    comment    text NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX alert_silences_active_idx ON alert_silences (ends_at);

ALTER TABLE alerts
    ADD COLUMN silenced         boolean NOT NULL DEFAULT false,  -- muted by a silence when last written
    ADD COLUMN severity_pinned  boolean NOT NULL DEFAULT false,  -- set by a person: the detector keeps it
    ADD COLUMN acknowledged_at  timestamptz,                     -- first left OPEN (time to acknowledge)
    ADD COLUMN created_by       uuid REFERENCES users (id) ON DELETE SET NULL;  -- manual alerts
CREATE INDEX alerts_created_idx ON alerts (created_at DESC, id DESC);
