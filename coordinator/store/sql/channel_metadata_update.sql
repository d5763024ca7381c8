-- Stores a new signed answer. $1 channel, $2 version (the stored one + 1,
-- checked), $3 content (base64), $4 targets key id, $5 expiry and $6 signing
-- time (Unix microseconds), $7 envelope (base64). No row: the version moved.
UPDATE channel_metadata
SET version = $2, content = decode($3, 'base64'), targets_key_id = $4,
    expires_at = to_timestamp($5::double precision / 1000000), envelope = decode($7, 'base64'),
    signed_at = to_timestamp($6::double precision / 1000000)
WHERE channel = $1 AND version = $2 - 1
RETURNING version
