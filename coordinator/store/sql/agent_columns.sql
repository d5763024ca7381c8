-- Fragment: the columns an agent is decoded from (AgentFromRow in
-- pg_agents.cc), over `agents AS agent JOIN channels AS chan`. Takes the
-- rules' constants as $1..$3 (see agent_is_stale, agent_in_instance_conflict).
agent.host_id,
agent.channel,
agent.group_name,
agent.current_version,
agent.health,
agent.updater_version,
agent.sequence,
(extract(epoch FROM (agent.first_seen - 'epoch'::timestamptz)) * 1000000)::bigint AS first_seen_us,
(extract(epoch FROM (agent.last_seen - 'epoch'::timestamptz)) * 1000000)::bigint AS last_seen_us,
{{agent_is_stale}} AS stale,
chan.control_plane_version,
agent.instance_id,
agent.schedule_state,
coalesce(agent.last_result, 0) AS last_result,
coalesce(agent.last_result_version, '') AS last_result_version,
agent.updating_to,
coalesce({{agent_in_instance_conflict}}, false) AS instance_conflict
