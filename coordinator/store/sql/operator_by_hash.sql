-- The token with this SHA-256, revoked and expired ones included (the caller
-- says which it is). $1 token_sha256 (hex)
SELECT {{operator_columns}}
FROM operator_tokens
WHERE token_sha256 = decode($1, 'hex')
