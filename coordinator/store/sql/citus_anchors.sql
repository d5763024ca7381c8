-- Citus: every shard's counter anchor (counter_anchors, migration 000012).
SELECT anchor FROM counter_anchors ORDER BY anchor
