-- One channel, locked against everything, ingest included, for deletion.
-- $1 name.
SELECT {{channel_columns}}
FROM channels
WHERE name = $1
FOR UPDATE
