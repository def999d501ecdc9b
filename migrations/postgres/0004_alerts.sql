-- Alerts raised by the processors' detectors, their workflow and history.

CREATE TABLE alerts (
    id               uuid PRIMARY KEY,                  -- deterministic id from the AlertEvent
    alert_type       text NOT NULL CHECK (alert_type IN ('SENTIMENT_SPIKE', 'HIGH_VOLUME_NEGATIVE', 'TRENDING_TOPIC',
                                                       'CHANNEL_PERFORMANCE', 'CUSTOMER_CHURN_RISK', 'SYSTEM_ANOMALY')),
    severity         text NOT NULL CHECK (severity IN ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW')),
    status           text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'IN_PROGRESS', 'RESOLVED', 'DISMISSED')),
    title            text NOT NULL,
    description      text NOT NULL DEFAULT '',
    dimension        jsonb NOT NULL DEFAULT '{}',      -- e.g. {"channel": "email"}
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL CHECK (window_end > window_start),
    metric           text NOT NULL DEFAULT '',
    observed         double precision,
    baseline         double precision,
    evidence         jsonb NOT NULL DEFAULT '{}',
    assignee_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    resolution_notes text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz
);
CREATE INDEX alerts_status_created_idx ON alerts (status, created_at DESC);
CREATE INDEX alerts_type_created_idx ON alerts (alert_type, created_at DESC);
CREATE INDEX alerts_severity_open_idx ON alerts (severity, created_at DESC) WHERE status IN ('OPEN', 'IN_PROGRESS');
CREATE INDEX alerts_assignee_idx ON alerts (assignee_id) WHERE assignee_id IS NOT NULL;
CREATE INDEX alerts_window_idx ON alerts (window_start, window_end);
CREATE INDEX alerts_dimension_idx ON alerts USING gin (dimension);

CREATE TABLE alert_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id   uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    changed_by uuid REFERENCES users (id) ON DELETE SET NULL,  -- NULL: the system
    action     text NOT NULL CHECK (action IN ('CREATED', 'STATUS_CHANGED', 'ASSIGNED', 'COMMENTED', 'SEVERITY_CHANGED')),
    old_status text,
    new_status text,
    note       text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_history_alert_idx ON alert_history (alert_id, changed_at);
