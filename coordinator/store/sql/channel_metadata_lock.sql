-- A channel's signed answer, locked until the transaction ends. $1 channel.
SELECT version, encode(content, 'base64') AS content_b64, targets_key_id,
       encode(envelope, 'base64') AS envelope_b64,
       CASE WHEN expires_at = '-infinity' THEN 0
            ELSE (extract(epoch FROM (expires_at - 'epoch'::timestamptz)) * 1000000)::bigint END AS expires_at_us,
       CASE WHEN signed_at = '-infinity' THEN 0
            ELSE (extract(epoch FROM (signed_at - 'epoch'::timestamptz)) * 1000000)::bigint END AS signed_at_us
FROM channel_metadata
WHERE channel = $1
FOR UPDATE
