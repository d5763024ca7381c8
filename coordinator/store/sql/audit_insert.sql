-- One audit_events row, in the caller's transaction.
-- $1 actor  $2 peer  $3 method  $4 object  $5 old_value  $6 new_value
-- $7 result ('ok' | 'refused')  $8 reason
INSERT INTO audit_events (actor, peer, method, object, old_value, new_value, result, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
