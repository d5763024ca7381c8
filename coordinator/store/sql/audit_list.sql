-- The audit trail, newest first. Empty text filters match anything.
-- $1 actor  $2 object  $3 method (full name, or its last part)
-- $4 result ('' | 'ok' | 'refused')  $5 since_us  $6 until_us (NULL: open)
-- $7 only ids below this (0: from the newest)  $8 limit
SELECT id,
       (extract(epoch FROM (at - 'epoch'::timestamptz)) * 1000000)::bigint AS at_us,
       actor, peer, method, object, old_value, new_value, result, reason
FROM audit_events
WHERE ($1 = '' OR actor = $1)
  AND ($2 = '' OR object = $2)
  AND ($3 = '' OR method = $3 OR method LIKE '%.' || $3)
  AND ($4 = '' OR result = $4)
  AND ($5::bigint IS NULL OR at >= to_timestamp($5::bigint / 1000000.0))
  AND ($6::bigint IS NULL OR at < to_timestamp($6::bigint / 1000000.0))
  AND ($7::bigint = 0 OR id < $7::bigint)
ORDER BY id DESC
LIMIT $8
