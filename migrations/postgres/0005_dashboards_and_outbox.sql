-- Saved dashboards per user, and the transactional outbox.

CREATE TABLE saved_dashboards (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    layout     jsonb NOT NULL DEFAULT '{}',
    filters    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX saved_dashboards_user_name_key ON saved_dashboards (user_id, lower(name));

-- Events written in the same transaction as the state change that causes them (password
-- reset e-mails, alert notifications, …) and published afterwards by a relay, so that a
-- crash between commit and publish loses nothing.
CREATE TABLE outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aggregate_type text NOT NULL,                      -- e.g. 'user', 'alert'
    aggregate_id   text NOT NULL,
    event_type     text NOT NULL,                      -- e.g. 'password_reset_requested'
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    available_at   timestamptz NOT NULL DEFAULT now(), -- retry back-off
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    published_at   timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (available_at, id) WHERE published_at IS NULL;
CREATE INDEX outbox_aggregate_idx ON outbox (aggregate_type, aggregate_id);
