-- A new rollout (rollout::StartRollout). Times as Unix microseconds.
-- $1 channel  $2 start_version  $3 target_version  $4 state  $5 reason
-- $6 created_at  $7 state_since  $8 skip_canaries  $9 force_reason
-- $10 ungrouped
INSERT INTO rollouts (channel, start_version, target_version, state, reason, created_at, state_since,
                      skip_canaries, force_reason, ungrouped)
VALUES ($1, $2, $3, $4, $5,
        timestamptz 'epoch' + $6::bigint * interval '1 microsecond',
        timestamptz 'epoch' + $7::bigint * interval '1 microsecond',
        $8, $9, $10)
RETURNING id, generation
