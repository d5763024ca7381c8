-- Staleness without an index on agents.last_seen: that index changed on
-- every report and made every agent update a non-HOT update touching all
-- indexes. Instead, agents are counted per (channel, 10-second bucket of
-- last_seen), maintained by every ingest batch like fleet_counts. An agent is
-- stale when last_seen < floor_10s(now() - 3 poll intervals).

CREATE TABLE seen_counts (
    channel text NOT NULL REFERENCES channels (name) ON DELETE CASCADE,
    bucket  timestamptz NOT NULL,   -- last_seen rounded down to 10 s
    agents  bigint NOT NULL,
    PRIMARY KEY (channel, bucket)
);

INSERT INTO seen_counts (channel, bucket, agents)
SELECT channel, to_timestamp(floor(extract(epoch FROM last_seen) / 10) * 10), count(*)
FROM agents GROUP BY 1, 2;

DROP INDEX agents_channel_last_seen_idx;
-- Room on each page for HOT updates: a report rewrites only the row.
ALTER TABLE agents SET (fillfactor = 70);
