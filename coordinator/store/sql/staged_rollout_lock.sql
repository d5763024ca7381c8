-- One rollout, locked for a step's write (after its channel: the order
-- UpdateChannel takes them in too). $1 id.
SELECT {{staged_rollout_columns}}
FROM rollouts
WHERE id = $1
FOR UPDATE
