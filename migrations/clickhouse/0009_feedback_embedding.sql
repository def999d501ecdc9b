-- rtcx.feedback.embedding: the message's sentence embedding (the model's unit-length mean-pooled
-- encoder output, the one the sentiment and emotion heads and topic assignment read), stored
-- as int8: scaled so that the largest component is ±127 and rounded, no scale kept (cosine
-- does not depend on length; rtcx_schemas::embedding). 384 values for MiniLM; empty when the
-- engine gives none (the lexicon, the Hugging Face pair) and for rows stored before this
-- column. What it costs per row is measured in docs/clickhouse.md. Read it with
-- cosineDistance(embedding, [...]): GET /v1/feedback/similar does.
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS embedding Array(Int8) DEFAULT [] CODEC(ZSTD(3)) COMMENT 'sentence embedding, int8 (largest component ±127, no scale: compare by cosine); empty when the engine gives none';
