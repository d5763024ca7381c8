-- A channel's agents per rollout group. Which group a reported name belongs
-- to is rollout::GroupIndexOf, evaluated by the caller: $2 names (text[])
-- and $3 their group index (integer[]; -1 for hosts in no group, catch-all
-- off). $1 channel  $4 stale cutoff (rollout::StaleCutoff, Unix
-- microseconds)  $5 target version
SELECT m.idx,
       count(*) AS hosts,
       count(*) FILTER (WHERE a.last_seen >= timestamptz 'epoch' + $4::bigint * interval '1 microsecond') AS present,
       count(*) FILTER (WHERE a.current_version = $5) AS on_target,
       count(*) FILTER (WHERE a.current_version = $5 AND a.health = 1) AS on_target_healthy,
       count(*) FILTER (WHERE a.last_seen >= timestamptz 'epoch' + $4::bigint * interval '1 microsecond'
                          AND a.current_version = $5 AND a.health = 1) AS present_on_target_healthy,
       count(*) FILTER (WHERE a.updating_to = $5 AND a.updating_to <> '') AS updating
FROM agents AS a
JOIN unnest($2::text[], $3::integer[]) AS m (name, idx) ON a.group_name = m.name
WHERE a.channel = $1
GROUP BY m.idx
