-- Alert e-mails of the same rule to the same person are grouped (docs/notifications.md,
-- "Grouping"): a new-alert mail waits `--group-wait-secs`; when it is sent, the pending mails
-- of its group to the same address are folded into it and marked `grouped`, pointing at it.

ALTER TABLE notification_deliveries
    ADD COLUMN group_key text,
    ADD COLUMN grouped_into bigint REFERENCES notification_deliveries (id) ON DELETE SET NULL,
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'dead', 'skipped', 'grouped'));

CREATE INDEX notification_deliveries_group_idx ON notification_deliveries (destination, group_key, id)
    WHERE status = 'pending' AND group_key IS NOT NULL;
