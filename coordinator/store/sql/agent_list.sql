-- A page of agents by host id, filtered (store::AgentFilter).
-- $1..$3 the rules' constants of agent_columns
-- $4 after this host id  $5 channel ('' = any)  $6 version ('' = any)
-- $7 health (0 = any)  $8 stale only  $9 out-of-policy only, then
-- $10/$11 the out-of-policy (channel, version) pairs
-- $12 group ('' = any)  $13 instance conflicts only
-- $14 last update result (0 = any)  $15 limit
SELECT {{agent_columns}}
FROM agents AS agent JOIN channels AS chan ON chan.name = agent.channel
WHERE agent.host_id > $4
  AND ($5 = '' OR agent.channel = $5)
  AND ($6 = '' OR agent.current_version = $6)
  AND ($7 = 0 OR agent.health = $7)
  AND (NOT $8 OR {{agent_is_stale}})
  AND (NOT $9 OR (agent.channel, agent.current_version) IN (SELECT * FROM unnest($10::text[], $11::text[])))
  AND ($12 = '' OR agent.group_name = $12)
  AND (NOT $13 OR {{agent_in_instance_conflict}})
  AND ($14 = 0 OR agent.last_result = $14)
ORDER BY agent.host_id
LIMIT $15
