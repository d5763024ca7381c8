-- One channel, locked for an operator edit. $1 name.
-- Ingest takes FOR KEY SHARE on the channels of a batch (enough to keep them
-- from being deleted under it); FOR NO KEY UPDATE does not conflict with it,
-- so a target change is never starved by a busy ingest. An outcome committed
-- while the target changes may count towards the previous target's epoch.
SELECT {{channel_columns}}
FROM channels
WHERE name = $1
FOR NO KEY UPDATE
