-- Drops a channel's policy groups before they are written again. $1 channel.
DELETE FROM rollout_policy_groups WHERE channel = $1
