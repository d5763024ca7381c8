-- The partitions of table $1 (PgStore::MaintainPartitions), its default
-- partition left out, with their bounds in Unix microseconds. Bounds that
-- are not plain timestamps (MINVALUE, MAXVALUE) come back NULL.
SELECT c.relname AS name,
       (extract(epoch FROM
          (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz) * 1000000
       )::bigint AS from_us,
       (extract(epoch FROM
          (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz) * 1000000
       )::bigint AS to_us
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = $1::regclass
  AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
ORDER BY from_us
