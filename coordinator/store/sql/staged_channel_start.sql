-- Points a channel at its new current rollout, in the transaction of the
-- target change that started it (channel_update already moved the
-- generation). $1 channel  $2 rollout id (0: none)  $3 rollout_start_version
-- $4 rollout_mode (rollout::Channel::RolloutMode)
UPDATE channels SET
    rollout_id = NULLIF($2::bigint, 0),
    rollout_start_version = $3,
    rollout_mode = $4
WHERE name = $1
RETURNING {{channel_columns}}
