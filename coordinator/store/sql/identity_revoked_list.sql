-- Serials revoked and not yet expired. $1 now (Unix µs).
SELECT serial FROM host_certificates
WHERE revoked_at IS NOT NULL AND not_after > to_timestamp($1::bigint / 1000000.0)
