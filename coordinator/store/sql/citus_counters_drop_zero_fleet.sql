-- Citus: drops one shard's rows of fleet_counts that compaction brought to zero
-- (as the second statement of counters_fold_fleet.sql). Returns how many.
WITH dropped AS (
  DELETE FROM {fleet_counts} WHERE shard = 0 AND agents = 0
  RETURNING 1)
SELECT count(*) FROM dropped
