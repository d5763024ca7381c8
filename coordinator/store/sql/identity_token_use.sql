-- Marks a token used. $1 sha256 hex, $2 host id, $3 now (Unix µs).
UPDATE join_tokens SET used_at = to_timestamp($3::bigint / 1000000.0), used_by_host = $2 WHERE token_sha256 = $1
