-- The topic catalogue (feedback is linked to topics by keyword rules and embedding similarity)
-- and topic suggestions proposed by the clustering job.

CREATE TABLE topics (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    category    text NOT NULL DEFAULT 'general' CHECK (length(category) BETWEEN 1 AND 60),
    keywords    text[] NOT NULL DEFAULT '{}',
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    archived    boolean NOT NULL DEFAULT false,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX topics_name_key ON topics (lower(name));
CREATE INDEX topics_category_idx ON topics (category) WHERE NOT archived;
CREATE INDEX topics_keywords_idx ON topics USING gin (keywords);
CREATE INDEX topics_updated_idx ON topics (updated_at);

CREATE TABLE topic_suggestions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    label       text NOT NULL,
    key_phrases text[] NOT NULL DEFAULT '{}',
    size        integer NOT NULL CHECK (size > 0),
    examples    jsonb NOT NULL DEFAULT '[]',            -- [{"id": "...", "text": "..."}]
    status      text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ACCEPTED', 'REJECTED')),
    topic_id    uuid REFERENCES topics (id) ON DELETE SET NULL,
    decided_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topic_suggestions_pending_idx ON topic_suggestions (created_at DESC) WHERE status = 'PENDING';
