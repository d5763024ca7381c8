-- counters_fold_seen.sql for Citus: the same fold, in one shard's rows
-- ({seen_counts} is the shard table, on the worker drover_on_shard runs it on:
-- PgStore::CompactCounters calls it for every anchor), anchors kept apart.
-- Returns how many rows it folded into shard 0.
WITH locked AS (
  SELECT anchor, channel, bucket, shard, agents FROM {seen_counts}
  WHERE bucket < now() - interval '1 minute' AND shard <> 0
  ORDER BY anchor, channel, bucket, shard
  FOR UPDATE SKIP LOCKED),
gone AS (
  DELETE FROM {seen_counts} AS counter USING locked
  WHERE counter.anchor = locked.anchor
    AND counter.channel = locked.channel
    AND counter.bucket = locked.bucket
    AND counter.shard = locked.shard),
folded AS (
  INSERT INTO {seen_counts} AS counter (anchor, channel, bucket, shard, agents)
  SELECT anchor, channel, bucket, 0, sum(agents) FROM locked
  GROUP BY anchor, channel, bucket
  ORDER BY anchor, channel, bucket
  ON CONFLICT (anchor, channel, bucket, shard) DO UPDATE SET agents = counter.agents + EXCLUDED.agents
  RETURNING 1)
SELECT count(*) FROM folded
