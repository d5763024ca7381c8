-- The hosts a rollout let in (not withdrawn) whose agent is still in the
-- channel, with what they run and say now, and the first failed install or
-- roll-back of the target each reported since it was let in.
-- $1 rollout id  $2 channel  $3 target version
SELECT rh.host_id,
       rh.position,
       rh.canary,
       (extract(epoch FROM (rh.admitted_at - 'epoch'::timestamptz)) * 1000000)::bigint AS admitted_at_us,
       rh.failed_at IS NOT NULL AS failed,
       rh.failure,
       (extract(epoch FROM (rh.failed_at - 'epoch'::timestamptz)) * 1000000)::bigint AS failed_at_us,
       a.current_version,
       a.health,
       (extract(epoch FROM (a.last_seen - 'epoch'::timestamptz)) * 1000000)::bigint AS last_seen_us,
       ev.error IS NOT NULL AS reported_failure,
       coalesce(ev.error, '') AS reported_error
FROM rollout_hosts AS rh
JOIN agents AS a ON a.host_id = rh.host_id AND a.channel = $2
LEFT JOIN LATERAL (
    SELECT e.error
    FROM update_events AS e
    WHERE e.host_id = rh.host_id AND e.to_version = $3 AND e.result IN (2, 3)
      AND e.recorded_at >= rh.admitted_at
    ORDER BY e.id
    LIMIT 1) AS ev ON true
WHERE rh.rollout_id = $1 AND rh.withdrawn_at IS NULL
ORDER BY rh.position, rh.host_id
