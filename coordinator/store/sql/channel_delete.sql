-- Deletes a channel, after its agents (channel_delete_agents). $1 name.
DELETE FROM channels WHERE name = $1
