-- What the alert evaluator of the processors needs (docs/alerts.md): which rule raised an
-- alert and in which window, how far its incident has been evaluated (re-evaluating a window
-- changes nothing: updates require a later window), whether the condition has cleared, and
-- whether it was found behind real time (a backlog or replay: recorded, never notified).
ALTER TABLE alerts
    ADD COLUMN rule               text,              -- detector rule; NULL for manual alerts
    ADD COLUMN fired_window_start timestamptz,       -- the window the alert fired in
    ADD COLUMN last_window_end    timestamptz,       -- end of the last window that updated it
    ADD COLUMN score              double precision,  -- -log10(p) of the firing window
    ADD COLUMN peak_observed      double precision,
    ADD COLUMN cleared_at         timestamptz,       -- when the detector saw the condition clear
    ADD COLUMN backfill           boolean NOT NULL DEFAULT false;
CREATE INDEX alerts_rule_window_idx ON alerts (rule, fired_window_start) WHERE rule IS NOT NULL;

ALTER TABLE alert_history DROP CONSTRAINT alert_history_action_check;
ALTER TABLE alert_history ADD CONSTRAINT alert_history_action_check CHECK (action IN (
    'CREATED', 'STATUS_CHANGED', 'ASSIGNED', 'COMMENTED', 'SEVERITY_CHANGED', 'CLEARED', 'REOPENED'));

-- How far the evaluator has evaluated (end of the last window it evaluated).
CREATE TABLE detector_progress (
    name            text PRIMARY KEY,
    evaluated_until timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
