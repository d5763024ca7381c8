-- A root successor; nothing when that version exists. $1 version, $2 key id,
-- $3 envelope (base64). Returns the stored row's key id and envelope.
WITH ins AS (
  INSERT INTO trust_roots (version, key_id, envelope) VALUES ($1, $2, decode($3, 'base64'))
  ON CONFLICT DO NOTHING
  RETURNING key_id, envelope
)
SELECT key_id, encode(envelope, 'base64') AS envelope_b64 FROM ins
UNION ALL
SELECT key_id, encode(envelope, 'base64') FROM trust_roots WHERE version = $1 AND NOT EXISTS (SELECT 1 FROM ins)
