-- A rollout's admissions per group: let in (not withdrawn), canaries, in
-- flight (let in, not failed, agent in the channel and not on the target
-- healthy yet), failed (withdrawn or not: failures count once per host).
-- $1 rollout id  $2 channel  $3 target version
SELECT rh.position,
       count(*) FILTER (WHERE rh.withdrawn_at IS NULL) AS admitted,
       count(*) FILTER (WHERE rh.withdrawn_at IS NULL AND rh.canary) AS canaries,
       count(*) FILTER (WHERE rh.withdrawn_at IS NULL AND rh.canary
                          AND a.current_version = $3 AND a.health = 1) AS canaries_on_target_healthy,
       count(*) FILTER (WHERE rh.withdrawn_at IS NULL AND rh.failed_at IS NULL AND a.host_id IS NOT NULL
                          AND NOT (a.current_version = $3 AND a.health = 1)) AS in_flight,
       count(*) FILTER (WHERE rh.failed_at IS NOT NULL) AS failed,
       count(*) FILTER (WHERE rh.failed_at IS NOT NULL AND rh.canary) AS canaries_failed
FROM rollout_hosts AS rh
LEFT JOIN agents AS a ON a.host_id = rh.host_id AND a.channel = $2
WHERE rh.rollout_id = $1
GROUP BY rh.position
