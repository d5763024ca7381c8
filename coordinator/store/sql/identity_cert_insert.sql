-- An issued certificate. $1 serial, $2 host id, $3 channel, $4 issued
-- (Unix µs), $5 not after (Unix µs), $6 renewed from (serial or '').
INSERT INTO host_certificates (serial, host_id, channel, issued_at, not_after, renewed_from)
VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000000.0), to_timestamp($5::bigint / 1000000.0), NULLIF($6, ''))
