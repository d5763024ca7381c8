-- counters_fold_outcomes.sql for Citus: the same fold, in one shard's rows
-- ({outcome_counts} is the shard table, on the worker drover_on_shard runs it on:
-- PgStore::CompactCounters calls it for every anchor), anchors kept apart.
-- Returns how many rows it folded into shard 0.
WITH locked AS (
  SELECT anchor, channel, target_epoch, result, shard, outcomes FROM {outcome_counts}
  WHERE shard <> 0
  ORDER BY anchor, channel, target_epoch, result, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM {outcome_counts} AS counter USING locked
  WHERE counter.anchor = locked.anchor
    AND counter.channel = locked.channel
    AND counter.target_epoch = locked.target_epoch
    AND counter.result = locked.result
    AND counter.shard = locked.shard),
folded AS (
  INSERT INTO {outcome_counts} AS counter (anchor, channel, target_epoch, result, shard, outcomes)
  SELECT anchor, channel, target_epoch, result, 0, sum(outcomes) FROM locked
  GROUP BY anchor, channel, target_epoch, result
  ORDER BY anchor, channel, target_epoch, result
  ON CONFLICT (anchor, channel, target_epoch, result, shard) DO UPDATE SET outcomes = counter.outcomes + EXCLUDED.outcomes
  RETURNING 1)
SELECT count(*) FROM folded
