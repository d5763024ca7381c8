-- staged_agent_group_names.sql for Citus, which runs no recursive CTE over a
-- distributed table: each shard lists its distinct names (through
-- agents_channel_group_idx), the coordinator node merges them. $1 channel.
SELECT DISTINCT group_name AS name FROM agents WHERE channel = $1
