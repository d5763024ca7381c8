-- A channel's agents per reported schedule state; states with none left out.
-- $1 channel.
SELECT state, sum(agents)::bigint AS agents
FROM schedule_counts
WHERE channel = $1
GROUP BY state
HAVING sum(agents) <> 0
ORDER BY state
