-- Back to plain tables, every row kept (partitions already dropped by
-- retention stay gone).
ALTER TABLE agents RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor, autovacuum_vacuum_cost_delay);
ALTER TABLE fleet_counts RESET (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor, autovacuum_vacuum_cost_delay);
ALTER TABLE seen_counts RESET (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor, autovacuum_vacuum_cost_delay);
ALTER TABLE schedule_counts RESET (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor, autovacuum_vacuum_cost_delay);
ALTER TABLE outcome_counts RESET (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor, autovacuum_vacuum_cost_delay);

ALTER TABLE update_events RENAME TO update_events_partitioned;
ALTER INDEX update_events_pkey RENAME TO update_events_partitioned_pkey;
ALTER INDEX update_events_host_idx RENAME TO update_events_partitioned_host_idx;
ALTER INDEX update_events_channel_idx RENAME TO update_events_partitioned_channel_idx;
ALTER SEQUENCE update_events_id_seq OWNED BY NONE;
CREATE TABLE update_events (LIKE update_events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE update_events ADD PRIMARY KEY (id);
ALTER SEQUENCE update_events_id_seq OWNED BY update_events.id;
INSERT INTO update_events SELECT * FROM update_events_partitioned;
DROP TABLE update_events_partitioned;
CREATE INDEX update_events_host_idx ON update_events (host_id, id);
CREATE INDEX update_events_channel_idx ON update_events (channel, recorded_at);

ALTER TABLE audit_events RENAME TO audit_events_partitioned;
ALTER INDEX audit_events_pkey RENAME TO audit_events_partitioned_pkey;
ALTER INDEX audit_events_actor_idx RENAME TO audit_events_partitioned_actor_idx;
ALTER INDEX audit_events_object_idx RENAME TO audit_events_partitioned_object_idx;
ALTER INDEX audit_events_at_idx RENAME TO audit_events_partitioned_at_idx;
ALTER SEQUENCE audit_events_id_seq OWNED BY NONE;
CREATE TABLE audit_events (LIKE audit_events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE audit_events ADD PRIMARY KEY (id);
ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id;
INSERT INTO audit_events SELECT * FROM audit_events_partitioned;
DROP TABLE audit_events_partitioned;
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_object_idx ON audit_events (object, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);
