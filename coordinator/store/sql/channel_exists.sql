-- A row when the channel exists. $1 name.
SELECT 1 FROM channels WHERE name = $1
