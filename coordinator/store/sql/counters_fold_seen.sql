-- Folds seen_counts' shards into shard 0 for buckets older than a minute,
-- then drops those that reached zero (buckets everyone has left). Recent
-- buckets are where ingest adds; only agents leaving touch the older ones.
-- Locks in key order, as ingest writes (see counters_fold_fleet).
WITH locked AS (
  SELECT channel, bucket, shard, agents FROM seen_counts
  WHERE bucket < now() - interval '1 minute'
  ORDER BY channel, bucket, shard
  FOR UPDATE),
gone AS (
  DELETE FROM seen_counts AS counter USING locked
  WHERE counter.channel = locked.channel AND counter.bucket = locked.bucket
    AND counter.shard = locked.shard AND counter.shard <> 0)
INSERT INTO seen_counts AS counter (channel, bucket, shard, agents)
SELECT channel, bucket, 0, sum(agents) FROM locked
GROUP BY channel, bucket
ORDER BY channel, bucket
ON CONFLICT (channel, bucket, shard) DO UPDATE SET agents = EXCLUDED.agents;

DELETE FROM seen_counts WHERE agents = 0 AND bucket < now() - interval '1 minute';
