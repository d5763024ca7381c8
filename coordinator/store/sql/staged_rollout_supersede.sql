-- A live rollout (active, paused, halted) superseded by a newer target or
-- a target cleared; its generation moves, so a step read before fails.
-- $1 id  $2 reason  $3 when (Unix microseconds)
UPDATE rollouts SET
    state = 6,
    reason = $2,
    state_since = timestamptz 'epoch' + $3::bigint * interval '1 microsecond',
    generation = generation + 1
WHERE id = $1 AND state IN (1, 2, 3)
