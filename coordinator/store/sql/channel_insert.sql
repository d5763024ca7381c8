-- Creates a channel as rollout::PrepareNewChannel left it; no row when the
-- name is taken.
-- $1 name  $2 target_version ('' = none)  $3 target_allows_downgrade
-- $4 target_epoch  $5 last_target_version ('' = none)
-- $6 last_target_allows_downgrade  $7 control_plane_version
-- $8 maintenance_windows  $9 poll_interval_ms
-- $11 follows_control_plane
-- $10 is the text 'now', which PostgreSQL reads as this transaction's start,
-- now()'s value (kNowParameter): Citus refuses now() inside CASE in a write.
INSERT INTO channels (name, target_version, target_allows_downgrade, target_updated_at, target_epoch,
                      last_target_version, last_target_allows_downgrade, control_plane_version,
                      maintenance_windows, poll_interval_ms, follows_control_plane)
VALUES ($1, NULLIF($2, ''), $3, CASE WHEN $2 = '' THEN NULL ELSE $10::timestamptz END, $4,
        NULLIF($5, ''), $6, $7, $8, $9, $11)
ON CONFLICT (name) DO NOTHING
RETURNING {{channel_columns}}
