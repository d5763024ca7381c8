-- A row when the name is a channel now or was one (its history outlives it).
-- $1 name.
SELECT 1 FROM channels WHERE name = $1
UNION ALL
SELECT 1 FROM channel_changes WHERE channel = $1
LIMIT 1
