-- rtcx.feedback.topic_reasons: why each topic of topic_ids was assigned, as one JSON object per
-- entry, in the same order: {"by":"keyword","keyword":"refund"} or {"by":"similarity",
-- "score":0.61,"threshold":0.42,"example_id":"…","example_cosine":0.78} (the topic's nearest
-- example message). Read with JSONExtractString(topic_reasons[1], 'by').
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS topic_reasons Array(String) DEFAULT [] COMMENT 'why each topic of topic_ids was assigned: one JSON object per entry, same order' AFTER topic_ids;
