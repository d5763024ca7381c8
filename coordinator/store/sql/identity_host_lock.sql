-- Waits for renewals of the host in flight (they lock the presented
-- certificate), so the revocation that follows, a statement of its own, sees
-- the certificates they issued. $1 host id.
SELECT serial FROM host_certificates WHERE host_id = $1 FOR UPDATE
