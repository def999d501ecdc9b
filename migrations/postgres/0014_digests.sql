-- Digests (docs/notifications.md, "Digests"): a daily or weekly summary mail per user, sent at
-- `digest_hour` of the user's day in `time_zone` (an IANA name Postgres knows, checked by the
-- query API). Without a preferences row a user gets no digest.

ALTER TABLE notification_preferences
    ADD COLUMN digest text NOT NULL DEFAULT 'none' CHECK (digest IN ('none', 'daily', 'weekly')),
    ADD COLUMN digest_hour smallint NOT NULL DEFAULT 8 CHECK (digest_hour BETWEEN 0 AND 23),
    ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64);

CREATE INDEX notification_preferences_digest_idx ON notification_preferences (user_id) WHERE digest <> 'none';

-- Bulk mail (reminders, digests) is claimed after every other due delivery, so that a burst of
-- them (a morning's digests, reminders after an outage) never delays a new alert's mail.
ALTER TABLE notification_deliveries ADD COLUMN bulk boolean NOT NULL DEFAULT false;
