-- One channel, unlocked. $1 name.
SELECT {{channel_columns}}
FROM channels
WHERE name = $1
