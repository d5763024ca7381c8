-- Operator tokens by name, then age. $1 include revoked ones
SELECT {{operator_columns}}
FROM operator_tokens
WHERE $1 OR revoked_at IS NULL
ORDER BY name COLLATE "C", id
