-- One rollout. $1 id.
SELECT {{staged_rollout_columns}}
FROM rollouts
WHERE id = $1
