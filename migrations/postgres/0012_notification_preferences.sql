-- Each user's e-mail notification choices (docs/notifications.md, "Who gets e-mail"). No row:
-- the defaults of the user's role (ADMIN and MANAGER: new alerts from HIGH up; everyone:
-- assignments to them; no resolved notices).

CREATE TABLE notification_preferences (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- No notification e-mail at all (account mail such as password resets still goes out).
    email_opt_out boolean NOT NULL DEFAULT false,
    -- New (and reopened) alerts at least this severe; NULL: none.
    alert_min_severity text CHECK (alert_min_severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    -- Only these alert types; NULL: every type.
    alert_types text[],
    -- Alerts assigned to the user by someone else.
    assignments boolean NOT NULL DEFAULT true,
    -- A notice when an alert the user would have been mailed about is resolved or dismissed.
    resolved boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
