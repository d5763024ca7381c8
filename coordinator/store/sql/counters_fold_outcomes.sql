-- Folds outcome_counts' shards into shard 0, then drops rows that reached
-- zero. Locks in key order, as ingest writes (see counters_fold_fleet).
WITH locked AS (
  SELECT channel, target_epoch, result, shard, outcomes FROM outcome_counts
  ORDER BY channel, target_epoch, result, shard
  FOR UPDATE),
gone AS (
  DELETE FROM outcome_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.target_epoch = locked.target_epoch
    AND counter.result = locked.result AND counter.shard = locked.shard AND counter.shard <> 0)
INSERT INTO outcome_counts AS counter (channel, target_epoch, result, shard, outcomes)
SELECT channel, target_epoch, result, 0, sum(outcomes) FROM locked
GROUP BY channel, target_epoch, result
ORDER BY channel, target_epoch, result
ON CONFLICT (channel, target_epoch, result, shard) DO UPDATE SET outcomes = EXCLUDED.outcomes;

DELETE FROM outcome_counts WHERE outcomes = 0;
