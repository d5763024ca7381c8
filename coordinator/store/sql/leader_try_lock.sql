-- Takes the session advisory lock $1 if free; true when this session holds it.
SELECT pg_try_advisory_lock($1)
