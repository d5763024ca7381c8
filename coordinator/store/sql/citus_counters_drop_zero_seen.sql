-- Citus: drops one shard's rows of seen_counts that compaction brought to zero
-- (as the second statement of counters_fold_seen.sql). Returns how many.
WITH dropped AS (
  DELETE FROM {seen_counts} WHERE bucket < now() - interval '1 minute' AND shard = 0 AND agents = 0
  RETURNING 1)
SELECT count(*) FROM dropped
