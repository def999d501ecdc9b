-- Webhook endpoints (managed by ADMINs through the query API) and the notifier's durable
-- delivery queue (docs/notifications.md).

CREATE TABLE webhooks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    url             text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    -- The HMAC key of the Standard Webhooks signature (`whsec_<base64>`). Unlike passwords and
    -- API keys it cannot be hashed: the notifier needs it to sign every delivery.
    secret          text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    event_types     text[] NOT NULL CHECK (cardinality(event_types) > 0
                        AND event_types <@ ARRAY['alert.created', 'alert.updated', 'alert.resolved', 'feedback.negative']),
    format          text NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'slack')),
    active          boolean NOT NULL DEFAULT true,
    disabled_reason text,                               -- why the notifier turned it off (410 Gone)
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per message and destination. `message_id` is the idempotency key the receiver sees
-- (the `webhook-id` header), the same on every attempt; UNIQUE (message_id, destination) makes
-- re-reading an event (a Kafka redelivery, an outbox row relayed twice) queue nothing new.
-- Notifiers claim due rows with FOR UPDATE SKIP LOCKED and lease them (`available_at` moves
-- past the send timeout), so a crashed notifier's rows are sent again once the lease ends.
CREATE TABLE notification_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      text NOT NULL,
    destination     text NOT NULL,                      -- 'webhook:<uuid>' or 'email:<address>'
    channel         text NOT NULL CHECK (channel IN ('webhook', 'email')),
    webhook_id      uuid REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type      text NOT NULL,                      -- e.g. 'alert.created'
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'dead', 'skipped')),
    attempts        integer NOT NULL DEFAULT 0,
    available_at    timestamptz NOT NULL DEFAULT now(), -- next attempt, or the end of a lease
    event_at        timestamptz NOT NULL,               -- when the event happened (delivery latency)
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_response   integer,                            -- HTTP status (or SMTP reply code)
    last_error      text,
    sent_at         timestamptz,
    UNIQUE (message_id, destination),
    CHECK ((channel = 'webhook') = (webhook_id IS NOT NULL))
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (available_at, id) WHERE status = 'pending';
CREATE INDEX notification_deliveries_webhook_idx ON notification_deliveries (webhook_id, id DESC);
