-- A host's update attempts, newest first.
-- $1 host_id  $2 only ids below this (0: from the newest)  $3 limit
SELECT id,
       host_id,
       channel,
       from_version,
       to_version,
       result,
       error,
       (extract(epoch FROM (started_at - 'epoch'::timestamptz)) * 1000000)::bigint AS started_at_us,
       (extract(epoch FROM (finished_at - 'epoch'::timestamptz)) * 1000000)::bigint AS finished_at_us,
       (extract(epoch FROM (recorded_at - 'epoch'::timestamptz)) * 1000000)::bigint AS recorded_at_us
FROM update_events
WHERE host_id = $1 AND ($2::bigint = 0 OR id < $2::bigint)
ORDER BY id DESC
LIMIT $3
