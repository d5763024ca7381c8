-- Folds seen_counts' shards into shard 0 for buckets older than a minute,
-- then drops those that reached zero (buckets everyone has left). Recent
-- buckets are where ingest adds; only agents leaving touch the older ones.
-- Only compaction writes shard 0 (ingest, the liveness flush and forgetting
-- an agent write 1 + backend pid modulo the shard count), and it locks the
-- other shards' rows with SKIP LOCKED: it never waits for a writer, so the
-- two cannot deadlock (a writer may wait for it: inserting a row it just
-- folded away). Rows a writer holds are folded next time; shard 0 gets
-- the sum of the rows folded, so it stays exact whatever was skipped.
-- One table per transaction, and one compaction at a time
-- (PgStore::CompactCounters).
WITH locked AS (
  SELECT channel, bucket, shard, agents FROM seen_counts
  WHERE bucket < now() - interval '1 minute' AND shard <> 0
  ORDER BY channel, bucket, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM seen_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.bucket = locked.bucket
    AND counter.shard = locked.shard)
INSERT INTO seen_counts AS counter (channel, bucket, shard, agents)
SELECT channel, bucket, 0, sum(agents) FROM locked
GROUP BY channel, bucket
ORDER BY channel, bucket
ON CONFLICT (channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents;

DELETE FROM seen_counts WHERE shard = 0 AND agents = 0 AND bucket < now() - interval '1 minute';
