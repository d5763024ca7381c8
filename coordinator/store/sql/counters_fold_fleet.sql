-- Folds fleet_counts' shards into shard 0, then drops rows that reached zero
-- (versions nobody runs any more). Rows are locked in key order, the order
-- ingest writes them in, so the two cannot deadlock.
WITH locked AS (
  SELECT channel, version, health, shard, agents FROM fleet_counts
  ORDER BY channel, version, health, shard
  FOR UPDATE),
gone AS (
  DELETE FROM fleet_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.version = locked.version AND counter.health = locked.health
    AND counter.shard = locked.shard AND counter.shard <> 0)
INSERT INTO fleet_counts AS counter (channel, version, health, shard, agents)
SELECT channel, version, health, 0, sum(agents) FROM locked
GROUP BY channel, version, health
ORDER BY channel, version, health
ON CONFLICT (channel, version, health, shard) DO UPDATE SET agents = EXCLUDED.agents;

DELETE FROM fleet_counts WHERE agents = 0;
