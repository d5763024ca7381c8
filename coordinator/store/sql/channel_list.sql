-- Every channel, by name.
SELECT {{channel_columns}}
FROM channels
ORDER BY name
