-- Writes a step's rollout state if nobody advanced it since it was read
-- (staged_rollout_lock holds the row). No row: the generation moved.
-- $1 id  $2 the generation read  $3 state  $4 reason  $5 state_since (Unix
-- microseconds)  $6 skip_canaries  $7 force_reason  $8 resumed_at (Unix
-- microseconds; NULL: never)
UPDATE rollouts SET
    state = $3,
    reason = $4,
    state_since = timestamptz 'epoch' + $5::bigint * interval '1 microsecond',
    skip_canaries = $6,
    force_reason = $7,
    resumed_at = timestamptz 'epoch' + $8::bigint * interval '1 microsecond',
    generation = generation + 1
WHERE id = $1 AND generation = $2
RETURNING generation
