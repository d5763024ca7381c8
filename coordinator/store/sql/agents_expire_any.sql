-- Whether any agent was last seen before $1 (Unix microseconds), from the
-- seen-bucket counters ($2 the bucket in ms): the check that spares
-- agents_expire.sql its scan of agents (no index on last_seen, see
-- 000002_seen_buckets) when nobody is that old, the common case.
SELECT EXISTS (
  SELECT 1 FROM seen_counts
  WHERE bucket < date_bin($2::bigint * interval '1 millisecond',
                          'epoch'::timestamptz + $1::bigint * interval '1 microsecond', 'epoch')
                 + $2::bigint * interval '1 millisecond'
  GROUP BY channel, bucket
  HAVING sum(agents) > 0) AS any
