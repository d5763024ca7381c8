-- A halt: hosts let in that do not run the target yet keep the start
-- version. Not those that said they are installing it now: they will run
-- it, so they stay let in and their outcome still counts.
-- $1 rollout id  $2 target version  $3 when (Unix microseconds)
UPDATE rollout_hosts AS rh SET withdrawn_at = timestamptz 'epoch' + $3::bigint * interval '1 microsecond'
WHERE rh.rollout_id = $1 AND rh.withdrawn_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM agents AS a
                  WHERE a.host_id = rh.host_id AND (a.current_version = $2 OR a.updating_to = $2))
