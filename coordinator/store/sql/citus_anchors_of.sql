-- Citus: the counter anchor of each host's shard ($1, host ids), by the
-- host's 1-based position in $1, and the group (node) holding that shard.
-- Reads the coordinator node's metadata and its copy of counter_anchors: no
-- worker is involved.
SELECT host.ordinal, anchors.anchor, placement.groupid
FROM unnest($1::text[]) WITH ORDINALITY AS host(host_id, ordinal)
JOIN counter_anchors AS anchors
  ON anchors.shardid = get_shard_id_for_distribution_column('agents', host.host_id)
JOIN pg_dist_placement AS placement ON placement.shardid = anchors.shardid AND placement.shardstate = 1
