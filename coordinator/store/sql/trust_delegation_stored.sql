-- Whether this delegation (envelope, base64 $1) is published already.
SELECT 1 FROM trust_delegations WHERE envelope = decode($1, 'base64')
