-- One agent.
-- $1..$3 the rules' constants of agent_columns  $4 host_id
SELECT {{agent_columns}}
FROM agents AS agent JOIN channels AS chan ON chan.name = agent.channel
WHERE agent.host_id = $4
