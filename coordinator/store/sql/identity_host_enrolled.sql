-- A row when the host ever had a certificate. $1 host id.
SELECT 1 FROM host_certificates WHERE host_id = $1 LIMIT 1
