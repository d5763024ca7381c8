-- A channel's stale agents, from the seen buckets: last seen before
-- now - $2 ms (rollout::StaleAfter of the channel), rounded down to a seen
-- bucket of $3 ms (rollout::kSeenBucket). $1 channel.
SELECT coalesce(sum(agents), 0)::bigint AS agents
FROM seen_counts
WHERE channel = $1
  AND bucket < date_bin($3 * interval '1 millisecond', now() - $2 * interval '1 millisecond', 'epoch')
