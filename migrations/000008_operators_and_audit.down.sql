DROP TABLE IF EXISTS audit_events;
DROP TABLE IF EXISTS operator_tokens;
