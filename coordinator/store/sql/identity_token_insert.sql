-- A join token, only when its channel exists. $1 sha256 hex, $2 channel,
-- $3 created (Unix µs), $4 expires (Unix µs). No row: no such channel.
INSERT INTO join_tokens (token_sha256, channel, created_at, expires_at)
SELECT $1, name, to_timestamp($3::bigint / 1000000.0), to_timestamp($4::bigint / 1000000.0)
FROM channels WHERE name = $2
RETURNING channel
