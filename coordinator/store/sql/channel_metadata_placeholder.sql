-- A row to lock before a channel's first signature. $1 channel.
INSERT INTO channel_metadata (channel, version, content, targets_key_id, expires_at, envelope, signed_at)
VALUES ($1, 0, '', '', '-infinity', '', '-infinity')
ON CONFLICT (channel) DO NOTHING
