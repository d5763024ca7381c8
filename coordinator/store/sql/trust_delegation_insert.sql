-- A delegation; nothing when the same envelope is stored. $1 targets key id,
-- $2 root key id, $3 version, $4 expiry (Unix microseconds), $5 envelope (base64).
INSERT INTO trust_delegations (targets_key_id, root_key_id, version, expires_at, envelope)
VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000000), decode($5, 'base64'))
ON CONFLICT (envelope) DO NOTHING
