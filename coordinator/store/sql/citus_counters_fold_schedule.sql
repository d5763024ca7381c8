-- counters_fold_schedule.sql for Citus: the same fold, in one shard's rows
-- ({schedule_counts} is the shard table, on the worker drover_on_shard runs it on:
-- PgStore::CompactCounters calls it for every anchor), anchors kept apart.
-- Returns how many rows it folded into shard 0.
WITH locked AS (
  SELECT anchor, channel, state, shard, agents FROM {schedule_counts}
  WHERE shard <> 0
  ORDER BY anchor, channel, state, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM {schedule_counts} AS counter USING locked
  WHERE counter.anchor = locked.anchor
    AND counter.channel = locked.channel
    AND counter.state = locked.state
    AND counter.shard = locked.shard),
folded AS (
  INSERT INTO {schedule_counts} AS counter (anchor, channel, state, shard, agents)
  SELECT anchor, channel, state, 0, sum(agents) FROM locked
  GROUP BY anchor, channel, state
  ORDER BY anchor, channel, state
  ON CONFLICT (anchor, channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents
  RETURNING 1)
SELECT count(*) FROM folded
