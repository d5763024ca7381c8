-- Root successors, oldest first.
SELECT version, key_id, encode(envelope, 'base64') AS envelope_b64,
       (extract(epoch FROM (published_at - 'epoch'::timestamptz)) * 1000000)::bigint AS published_at_us
FROM trust_roots
ORDER BY version
