-- A channel's agents per (version, health), from the fleet counters.
-- $1 channel.
SELECT version, health, sum(agents)::bigint AS agents
FROM fleet_counts
WHERE channel = $1
GROUP BY version, health
HAVING sum(agents) <> 0
