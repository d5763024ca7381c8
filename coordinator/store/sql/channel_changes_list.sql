-- A channel's audit trail, newest first.
-- $1 channel  $2 only ids below this (0: from the newest)  $3 limit
SELECT id,
       channel,
       field,
       coalesce(old_value, '') AS old_value,
       coalesce(new_value, '') AS new_value,
       coalesce(actor, '') AS actor,
       (extract(epoch FROM (changed_at - 'epoch'::timestamptz)) * 1000000)::bigint AS changed_at_us
FROM channel_changes
WHERE channel = $1 AND ($2::bigint = 0 OR id < $2::bigint)
ORDER BY id DESC
LIMIT $3
