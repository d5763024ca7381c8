-- The groups of a channel's rollout policy, in order. $1 channel.
SELECT name, windows
FROM rollout_policy_groups
WHERE channel = $1
ORDER BY position
