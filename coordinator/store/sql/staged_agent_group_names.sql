-- The distinct group names a channel's agents report, by skipping through
-- agents_channel_group_idx (one index probe per name, however many agents).
-- $1 channel.
WITH RECURSIVE names (name) AS (
    (SELECT group_name FROM agents WHERE channel = $1 ORDER BY group_name LIMIT 1)
    UNION ALL
    SELECT (SELECT a.group_name FROM agents AS a
            WHERE a.channel = $1 AND a.group_name > names.name
            ORDER BY a.group_name LIMIT 1)
    FROM names
    WHERE names.name IS NOT NULL)
SELECT name FROM names WHERE name IS NOT NULL
