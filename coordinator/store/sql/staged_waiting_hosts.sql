-- Per wanted group, up to $6 hosts not let in now (and never failed in
-- this rollout), in random order, any
-- health, not stale (a host silent for long would count as failed the
-- moment it is let in; it is let in once it is back). Parameters as
-- staged_canary_candidates.
SELECT w.idx, s.host_id
FROM unnest($7::integer[]) AS w (idx)
CROSS JOIN LATERAL (
    SELECT a.host_id
    FROM agents AS a
    JOIN unnest($2::text[], $3::integer[]) AS m (name, idx) ON a.group_name = m.name AND m.idx = w.idx
    WHERE a.channel = $1
      AND a.last_seen >= timestamptz 'epoch' + $4::bigint * interval '1 microsecond'
      -- Not let in now; nor ever failed in this rollout (withdrawn at a
      -- halt, then resumed): it is not handed the version that broke on it.
      AND NOT EXISTS (SELECT 1 FROM rollout_hosts AS rh
                      WHERE rh.rollout_id = $5 AND rh.host_id = a.host_id
                        AND (rh.withdrawn_at IS NULL OR rh.failed_at IS NOT NULL))
    ORDER BY random()
    LIMIT $6) AS s
