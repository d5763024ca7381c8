-- A page of orphaned hosts by host id.
-- $1 visible for, in seconds (see orphan_is_current)  $2 after this host id
-- $3 reported channel ('' = any)  $4 group ('' = any)  $5 limit
SELECT orphan.host_id,
       orphan.channel,
       orphan.group_name,
       orphan.current_version,
       orphan.health,
       orphan.instance_id,
       (extract(epoch FROM (orphan.first_seen - 'epoch'::timestamptz)) * 1000000)::bigint AS first_seen_us,
       (extract(epoch FROM (orphan.last_seen - 'epoch'::timestamptz)) * 1000000)::bigint AS last_seen_us
FROM orphan_hosts AS orphan
WHERE {{orphan_is_current}}
  AND orphan.host_id > $2
  AND ($3 = '' OR orphan.channel = $3)
  AND ($4 = '' OR orphan.group_name = $4)
ORDER BY orphan.host_id
LIMIT $5
