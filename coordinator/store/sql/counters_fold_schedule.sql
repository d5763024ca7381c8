-- Folds schedule_counts' shards into shard 0, then drops rows that reached
-- zero. Locks in key order, as ingest writes (see counters_fold_fleet).
WITH locked AS (
  SELECT channel, state, shard, agents FROM schedule_counts
  ORDER BY channel, state, shard
  FOR UPDATE),
gone AS (
  DELETE FROM schedule_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.state = locked.state
    AND counter.shard = locked.shard AND counter.shard <> 0)
INSERT INTO schedule_counts AS counter (channel, state, shard, agents)
SELECT channel, state, 0, sum(agents) FROM locked
GROUP BY channel, state
ORDER BY channel, state
ON CONFLICT (channel, state, shard) DO UPDATE SET agents = EXCLUDED.agents;

DELETE FROM schedule_counts WHERE agents = 0;
