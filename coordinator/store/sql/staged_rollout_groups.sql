-- A rollout's groups, in order. $1 rollout id.
SELECT position,
       name,
       state,
       (extract(epoch FROM (state_since - 'epoch'::timestamptz)) * 1000000)::bigint AS state_since_us,
       (extract(epoch FROM (started_at - 'epoch'::timestamptz)) * 1000000)::bigint AS started_at_us,
       (extract(epoch FROM (bake_until - 'epoch'::timestamptz)) * 1000000)::bigint AS bake_until_us,
       (extract(epoch FROM (done_at - 'epoch'::timestamptz)) * 1000000)::bigint AS done_at_us,
       reason,
       windows
FROM rollout_groups
WHERE rollout_id = $1
ORDER BY position
