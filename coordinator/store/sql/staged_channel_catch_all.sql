-- Copies a policy's catch-all setting onto its channel, where GetTarget
-- reads it; a change bumps the generation so caches pick it up.
-- $1 channel  $2 catch-all off
UPDATE channels SET
    rollout_catch_all_off = $2,
    updated_at = now(),
    generation = generation + 1
WHERE name = $1 AND rollout_catch_all_off <> $2
