-- True when the schema is distributed on Citus (migration 000012 ran with the
-- citus extension): the store then writes reports and heartbeats per shard.
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AND to_regclass('counter_anchors') IS NOT NULL
