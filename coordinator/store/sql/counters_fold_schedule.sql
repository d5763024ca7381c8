-- Folds schedule_counts' shards into shard 0, then drops rows that reached
-- zero.
-- Only compaction writes shard 0 (ingest, the liveness flush and forgetting
-- an agent write 1 + backend pid modulo the shard count), and it locks the
-- other shards' rows with SKIP LOCKED: it never waits for a writer, so the
-- two cannot deadlock (a writer may wait for it: inserting a row it just
-- folded away). Rows a writer holds are folded next time; shard 0 gets
-- the sum of the rows folded, so it stays exact whatever was skipped.
-- One table per transaction, and one compaction at a time
-- (PgStore::CompactCounters).
WITH locked AS (
  SELECT channel, state, shard, agents FROM schedule_counts
  WHERE shard <> 0
  ORDER BY channel, state, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM schedule_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.state = locked.state
    AND counter.shard = locked.shard)
INSERT INTO schedule_counts AS counter (channel, state, shard, agents)
SELECT channel, state, 0, sum(agents) FROM locked
GROUP BY channel, state
ORDER BY channel, state
ON CONFLICT (channel, state, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents;

DELETE FROM schedule_counts WHERE shard = 0 AND agents = 0;
