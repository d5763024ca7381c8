-- Tells every replica's watch endpoint (PgChangeListener) that a channel's
-- answers may have changed; delivered only if the transaction commits.
SELECT pg_notify('drover_changes', $1)
