-- Folds fleet_counts' shards into shard 0, then drops rows that reached zero
-- (versions nobody runs any more).
-- Only compaction writes shard 0 (ingest, the liveness flush and forgetting
-- an agent write 1 + backend pid modulo the shard count), and it locks the
-- other shards' rows with SKIP LOCKED: it never waits for a writer, so the
-- two cannot deadlock (a writer may wait for it: inserting a row it just
-- folded away). Rows a writer holds are folded next time; shard 0 gets
-- the sum of the rows folded, so it stays exact whatever was skipped.
-- One table per transaction, and one compaction at a time
-- (PgStore::CompactCounters).
WITH locked AS (
  SELECT channel, version, health, shard, agents FROM fleet_counts
  WHERE shard <> 0
  ORDER BY channel, version, health, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM fleet_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.version = locked.version AND counter.health = locked.health
    AND counter.shard = locked.shard)
INSERT INTO fleet_counts AS counter (channel, version, health, shard, agents)
SELECT channel, version, health, 0, sum(agents) FROM locked
GROUP BY channel, version, health
ORDER BY channel, version, health
ON CONFLICT (channel, version, health, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents;

DELETE FROM fleet_counts WHERE shard = 0 AND agents = 0;
