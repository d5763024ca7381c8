-- What the channel's signed answer says of its rollout, after a step: only
-- while the rollout is still the channel's current one, and only when it
-- changes (a new generation makes caches and signers pick it up).
-- $1 channel  $2 rollout id  $3 rollout_start_version  $4 rollout_mode
UPDATE channels SET
    rollout_start_version = $3,
    rollout_mode = $4,
    updated_at = now(),
    generation = generation + 1
WHERE name = $1 AND rollout_id = $2
  AND (rollout_start_version <> $3 OR rollout_mode <> $4)
