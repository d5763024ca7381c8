-- Issues an operator token; no row when an unrevoked token has the name.
-- $1 name  $2 role  $3 token_sha256 (hex)  $4 created_by  $5 expires_at_us (NULL: never)
INSERT INTO operator_tokens (name, role, token_sha256, created_by, expires_at)
VALUES ($1, $2, decode($3, 'hex'), $4, to_timestamp($5::bigint / 1000000.0))
ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
RETURNING {{operator_columns}}
