-- Citus: drops one shard's rows of outcome_counts that compaction brought to zero
-- (as the second statement of counters_fold_outcomes.sql). Returns how many.
WITH dropped AS (
  DELETE FROM {outcome_counts} WHERE shard = 0 AND outcomes = 0
  RETURNING 1)
SELECT count(*) FROM dropped
