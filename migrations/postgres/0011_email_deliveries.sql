-- E-mail deliveries in the notifier's queue: the recipient, and whether the payload holds a
-- secret (a password-reset link) to erase once the delivery is sent or given up.

ALTER TABLE notification_deliveries
    ADD COLUMN recipient text,
    ADD COLUMN sensitive boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT notification_deliveries_recipient_check CHECK ((channel = 'email') = (recipient IS NOT NULL));
