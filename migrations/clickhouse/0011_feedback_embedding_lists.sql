-- Search by meaning without comparing every row (docs/models.md "Finding feedback by meaning").
-- A coarse quantiser (rtcx_schemas::embedding_lists: k-means centroids shipped beside the
-- model's heads) files each embedding into one of a few hundred lists; the processors store the
-- list number with the row (0: unfiled: no embedding, no quantiser, or stored before this
-- migration). The projection keeps the columns the search reads ordered by list, so the rows of
-- one list lie together, in granules of 1 024 rows: GET /v1/feedback/similar reads the lists
-- nearest its query (and list 0) instead of the whole range. Its cost, about the embedding's
-- size again per row, is measured in docs/benchmarks.md ("Similar feedback").
-- ReplacingMergeTree only keeps projections when told what a deduplicating merge does with
-- them: rebuild them from the merged rows. Updates of topic_ids (retroactive assignment) do not
-- touch the projection's columns; the text retention TTL empties its embedding as well.
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS embedding_list UInt16 DEFAULT 0 COMMENT 'list of the coarse quantiser the embedding is filed in (rtcx_schemas::embedding_lists); 0: unfiled';
ALTER TABLE feedback MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE feedback ADD PROJECTION IF NOT EXISTS by_embedding_list (SELECT id, occurred_at, channel, sentiment_label, dominant_emotion, language, sentiment_score, embedding, embedding_list ORDER BY embedding_list, occurred_at) WITH SETTINGS (index_granularity = 1024);
-- Existing parts get the projection in the background (a mutation), so that they merge with
-- new ones; until then they are read through the table itself.
ALTER TABLE feedback MATERIALIZE PROJECTION by_embedding_list;
