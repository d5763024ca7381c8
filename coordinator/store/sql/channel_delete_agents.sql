-- Forgets a channel's agents (a forced delete). $1 channel.
DELETE FROM agents WHERE channel = $1
