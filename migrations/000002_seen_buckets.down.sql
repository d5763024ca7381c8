ALTER TABLE agents RESET (fillfactor);
CREATE INDEX agents_channel_last_seen_idx ON agents (channel, last_seen);
DROP TABLE IF EXISTS seen_counts;
