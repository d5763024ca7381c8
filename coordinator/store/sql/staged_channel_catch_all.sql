-- Copies a policy's catch-all setting and group names onto its channel,
-- where GetTarget and the signed answer read them; a change bumps the
-- generation so caches and signers pick it up.
-- $1 channel  $2 catch-all off  $3 listed groups (comma-separated)
UPDATE channels SET
    rollout_catch_all_off = $2,
    rollout_listed_groups = $3,
    updated_at = now(),
    generation = generation + 1
WHERE name = $1 AND (rollout_catch_all_off <> $2 OR rollout_listed_groups <> $3)
