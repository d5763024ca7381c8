-- Revokes the unrevoked token of this name; no row when there is none.
-- $1 name
UPDATE operator_tokens SET revoked_at = now()
WHERE name = $1 AND revoked_at IS NULL
RETURNING {{operator_columns}}
