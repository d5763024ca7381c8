-- Per wanted group, up to $6 hosts that may become canaries, in random
-- order: healthy, not stale, not let in now and never failed in this
-- rollout. $1 channel  $2 names (text[]) and $3 their group index
-- (integer[]), as staged_group_agent_counts  $4 stale cutoff (Unix
-- microseconds)  $5 rollout id  $6 limit per group  $7 the groups wanted
-- (integer[])
SELECT w.idx, s.host_id
FROM unnest($7::integer[]) AS w (idx)
CROSS JOIN LATERAL (
    SELECT a.host_id
    FROM agents AS a
    JOIN unnest($2::text[], $3::integer[]) AS m (name, idx) ON a.group_name = m.name AND m.idx = w.idx
    WHERE a.channel = $1
      AND a.last_seen >= timestamptz 'epoch' + $4::bigint * interval '1 microsecond'
      AND a.health = 1
      AND NOT EXISTS (SELECT 1 FROM rollout_hosts AS rh
                      WHERE rh.rollout_id = $5 AND rh.host_id = a.host_id
                        AND (rh.withdrawn_at IS NULL OR rh.failed_at IS NOT NULL))
    ORDER BY random()
    LIMIT $6) AS s
