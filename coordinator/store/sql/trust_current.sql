-- What is published now, for the audit row's old value and the delegation
-- version check: the newest root version (1: only the pinned root), the
-- highest delegation version (0: none) and that delegation's targets key.
SELECT COALESCE((SELECT max(version) FROM trust_roots), 1) AS root_version,
       COALESCE((SELECT max(version) FROM trust_delegations), 0) AS delegation_version,
       COALESCE((SELECT targets_key_id FROM trust_delegations ORDER BY version DESC, id DESC LIMIT 1), '')
         AS targets_key_id
