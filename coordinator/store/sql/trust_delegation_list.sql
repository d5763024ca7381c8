-- Delegations, newest first.
SELECT targets_key_id, root_key_id, version, encode(envelope, 'base64') AS envelope_b64,
       (extract(epoch FROM (expires_at - 'epoch'::timestamptz)) * 1000000)::bigint AS expires_at_us,
       (extract(epoch FROM (published_at - 'epoch'::timestamptz)) * 1000000)::bigint AS published_at_us
FROM trust_delegations
ORDER BY version DESC, id DESC
