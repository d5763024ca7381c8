-- Citus: the audit records of agents citus_agents_expire.sql forgot ($1 host
-- ids, $2 their old values, $3 the reason), as agents_expire.sql writes them.
INSERT INTO audit_events (actor, peer, method, object, old_value, result, reason)
SELECT 'coordinator', '', 'ForgetStaleAgents', 'hosts/' || host_id, old_value, 'ok', $3
FROM unnest($1::text[], $2::text[]) AS gone(host_id, old_value)
