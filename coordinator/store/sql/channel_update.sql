-- Writes a channel as a ChannelMutation left it (the row is locked by
-- channel_read_for_edit).
-- $1 name  $2 target_version ('' = none)  $3 target_allows_downgrade
-- $4 the edit starts a new target epoch (rollout::StartsTargetEpoch)
-- $5 critical  $6 critical_reason  $7 control_plane_version
-- $8 maintenance_windows  $9 poll_interval_ms
-- $10 last_target_version ('' = none)  $11 last_target_allows_downgrade
-- (The trigger of migrations 000004/000006 computes the last target too, for
-- replicas that predate it; it agrees with rollout::SetTarget.)
-- $13 follows_control_plane
-- $12 is the text 'now', which PostgreSQL reads as this transaction's start,
-- now()'s value (kNowParameter): Citus refuses now() inside CASE in a write.
UPDATE channels SET
    target_version = NULLIF($2, ''),
    target_allows_downgrade = $3,
    target_updated_at = CASE WHEN $4 THEN $12::timestamptz ELSE target_updated_at END,
    target_epoch = target_epoch + CASE WHEN $4 THEN 1 ELSE 0 END,
    critical_updated_at = CASE WHEN critical IS DISTINCT FROM $5 THEN $12::timestamptz ELSE critical_updated_at END,
    critical = $5,
    critical_reason = $6,
    control_plane_version = $7,
    follows_control_plane = $13,
    maintenance_windows = $8,
    poll_interval_ms = $9,
    last_target_version = NULLIF($10, ''),
    last_target_allows_downgrade = $11,
    updated_at = now(),
    generation = generation + 1
WHERE name = $1
RETURNING {{channel_columns}}
