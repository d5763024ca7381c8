-- A channel's update outcomes per result in one target epoch.
-- $1 channel  $2 target_epoch
SELECT result, sum(outcomes)::bigint AS outcomes
FROM outcome_counts
WHERE channel = $1 AND target_epoch = $2
GROUP BY result
