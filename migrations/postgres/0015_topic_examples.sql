-- Topics defined by example (docs/models.md, "Topic assignment"): example messages that show
-- what a topic is about and counter-examples that show what it is not, pasted by a user,
-- accepted from a suggestion, or made from a correction of an assignment ("this feedback is /
-- is not about that topic"). The processors embed them and calibrate each topic's threshold
-- from them; excluded keywords keep a topic off a message whatever its score.

ALTER TABLE topics
    ADD COLUMN excluded_keywords text[] NOT NULL DEFAULT '{}';

CREATE TABLE topic_examples (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    topic_id    uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    -- false: a counter-example (a message that is not about the topic)
    positive    boolean NOT NULL DEFAULT true,
    source      text NOT NULL DEFAULT 'USER' CHECK (source IN ('USER', 'SUGGESTION', 'CORRECTION')),
    -- the feedback a correction (or an accepted suggestion's example) was made from
    feedback_id uuid,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- One row per topic and text: pasting the same message twice, or correcting the same
-- feedback twice, updates that row (positive or not) rather than adding another.
CREATE UNIQUE INDEX topic_examples_text_key ON topic_examples (topic_id, md5(text));
CREATE INDEX topic_examples_feedback_idx ON topic_examples (feedback_id) WHERE feedback_id IS NOT NULL;

-- What the processors measured of each topic when they last loaded the catalogue: its
-- threshold and how it was set, and estimated precision and recall from its examples.
CREATE TABLE topic_quality (
    topic_id    uuid PRIMARY KEY REFERENCES topics (id) ON DELETE CASCADE,
    examples    integer NOT NULL,
    negatives   integer NOT NULL,
    threshold   real NOT NULL,
    calibration text NOT NULL CHECK (calibration IN ('DEFAULT', 'LEAVE_ONE_OUT')),
    -- leave-one-out estimates (NULL when the threshold is the default)
    recall      real,
    precision   real,
    -- the topic the examples are most often mistaken for, and how often
    confused_with uuid REFERENCES topics (id) ON DELETE SET NULL,
    confusion   real,
    model_version text NOT NULL,
    measured_at timestamptz NOT NULL DEFAULT now()
);
