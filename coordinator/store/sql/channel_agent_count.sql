-- The agents of a channel, from the fleet counters. $1 channel.
SELECT coalesce(sum(agents), 0)::bigint AS agents
FROM fleet_counts
WHERE channel = $1
