-- Fragment: the columns an operator token is decoded from (pg_audit.cc),
-- times as Unix microseconds (NULL: none). Never the hash.
name, role,
(extract(epoch FROM (created_at - 'epoch'::timestamptz)) * 1000000)::bigint AS created_at_us,
created_by,
(extract(epoch FROM (expires_at - 'epoch'::timestamptz)) * 1000000)::bigint AS expires_at_us,
(extract(epoch FROM (revoked_at - 'epoch'::timestamptz)) * 1000000)::bigint AS revoked_at_us
