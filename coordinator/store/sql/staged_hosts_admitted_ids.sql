-- The hosts a rollout let in and did not withdraw (what GetTarget checks).
-- $1 rollout id.
SELECT host_id
FROM rollout_hosts
WHERE rollout_id = $1 AND withdrawn_at IS NULL
