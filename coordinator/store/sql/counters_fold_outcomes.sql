-- Folds outcome_counts' shards into shard 0, then drops rows that reached
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
  SELECT channel, target_epoch, result, shard, outcomes FROM outcome_counts
  WHERE shard <> 0
  ORDER BY channel, target_epoch, result, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM outcome_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.target_epoch = locked.target_epoch
    AND counter.result = locked.result AND counter.shard = locked.shard AND counter.shard <> 0)
INSERT INTO outcome_counts AS counter (channel, target_epoch, result, shard, outcomes)
SELECT channel, target_epoch, result, 0, sum(outcomes) FROM locked
GROUP BY channel, target_epoch, result
ORDER BY channel, target_epoch, result
ON CONFLICT (channel, target_epoch, result, shard) DO UPDATE SET outcomes = counter.outcomes + EXCLUDED.outcomes;

DELETE FROM outcome_counts WHERE shard = 0 AND outcomes = 0;
