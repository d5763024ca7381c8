-- identity_cert_get, the row locked so a revocation waits for the renewal
-- (and then revokes the new certificate too). $1 serial.
SELECT host_id, channel, revoked_at IS NOT NULL AS revoked FROM host_certificates WHERE serial = $1
FOR UPDATE
