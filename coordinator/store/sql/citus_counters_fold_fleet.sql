-- counters_fold_fleet.sql for Citus: the same fold, in one shard's rows
-- ({fleet_counts} is the shard table, on the worker drover_on_shard runs it on:
-- PgStore::CompactCounters calls it for every anchor), anchors kept apart.
-- Returns how many rows it folded into shard 0.
WITH locked AS (
  SELECT anchor, channel, version, health, shard, agents FROM {fleet_counts}
  WHERE shard <> 0
  ORDER BY anchor, channel, version, health, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM {fleet_counts} AS counter USING locked
  WHERE counter.anchor = locked.anchor
    AND counter.channel = locked.channel
    AND counter.version = locked.version
    AND counter.health = locked.health
    AND counter.shard = locked.shard),
folded AS (
  INSERT INTO {fleet_counts} AS counter (anchor, channel, version, health, shard, agents)
  SELECT anchor, channel, version, health, 0, sum(agents) FROM locked
  GROUP BY anchor, channel, version, health
  ORDER BY anchor, channel, version, health
  ON CONFLICT (anchor, channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents
  RETURNING 1)
SELECT count(*) FROM folded
