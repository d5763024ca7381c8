-- A join token by hash. $1 sha256 hex.
SELECT channel,
       (extract(epoch FROM (expires_at - 'epoch'::timestamptz)) * 1000000)::bigint AS expires_at_us,
       used_at IS NOT NULL AS used
FROM join_tokens WHERE token_sha256 = $1
