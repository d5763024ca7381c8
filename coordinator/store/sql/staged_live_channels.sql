-- Channels whose current rollout is live (active, paused, halted): the
-- engine's work list, through rollouts_live_idx.
SELECT c.name
FROM rollouts AS r
JOIN channels AS c ON c.rollout_id = r.id
WHERE r.state IN (1, 2, 3)
ORDER BY c.name
