-- Revokes a host's certificates not yet revoked; returns their serials.
-- $1 host id, $2 now (Unix µs).
UPDATE host_certificates SET revoked_at = to_timestamp($2::bigint / 1000000.0)
WHERE host_id = $1 AND revoked_at IS NULL
RETURNING serial
