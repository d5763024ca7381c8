-- One issued certificate. $1 serial.
SELECT host_id, channel, revoked_at IS NOT NULL AS revoked FROM host_certificates WHERE serial = $1
