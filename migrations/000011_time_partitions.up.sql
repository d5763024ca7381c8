-- Retention (issue 17): update_events and audit_events become tables
-- partitioned by time, so that history older than its retention goes by
-- dropping whole partitions (rollout/retention.h): no DELETE, no dead rows,
-- no vacuum debt, the same cost whatever is dropped.
--   update_events  by recorded_at (the coordinator's clock, not the agent's),
--                  one partition per UTC day;
--   audit_events   by at, one partition per UTC month.
-- Each also gets a DEFAULT partition: a row that finds no partition (the
-- coordinators were down longer than the partitions made ahead) is kept
-- there, never refused, and moved into its own partition when the
-- coordinator creates it (PgStore::MaintainPartitions).
--
-- Existing rows are copied into partitions covering them; nothing is lost
-- here. update_events' history before the current month goes into one
-- partition per month (days would be thousands of partitions, each a few
-- locks in this one transaction: years of history would exhaust the lock
-- table), the current month on by day. Rows older than the retention are
-- dropped by the coordinator's first maintenance after the upgrade, a whole
-- month once all of it is past (--event_retention, --audit_retention; 0
-- keeps them). The copy holds the tables exclusively until it commits:
-- reports with outcomes wait for it (see README, upgrading).
--
-- A partitioned table's primary key must hold the partition key: (id, time).
-- The id sequences are kept, so ids go on growing where they were.

-- Bounds in UTC whatever the server's TimeZone (a day is then 24 hours).
SET LOCAL TimeZone = 'UTC';

ALTER TABLE update_events RENAME TO update_events_unpartitioned;
ALTER INDEX update_events_pkey RENAME TO update_events_unpartitioned_pkey;
ALTER INDEX update_events_host_idx RENAME TO update_events_unpartitioned_host_idx;
ALTER INDEX update_events_channel_idx RENAME TO update_events_unpartitioned_channel_idx;
ALTER SEQUENCE update_events_id_seq OWNED BY NONE;
CREATE TABLE update_events (LIKE update_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (recorded_at);
ALTER TABLE update_events ADD PRIMARY KEY (id, recorded_at);
ALTER SEQUENCE update_events_id_seq OWNED BY update_events.id;
CREATE INDEX update_events_host_idx ON update_events (host_id, id);
CREATE INDEX update_events_channel_idx ON update_events (channel, recorded_at);
CREATE TABLE update_events_default PARTITION OF update_events DEFAULT;

ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER INDEX audit_events_pkey RENAME TO audit_events_unpartitioned_pkey;
ALTER INDEX audit_events_actor_idx RENAME TO audit_events_unpartitioned_actor_idx;
ALTER INDEX audit_events_object_idx RENAME TO audit_events_unpartitioned_object_idx;
ALTER INDEX audit_events_at_idx RENAME TO audit_events_unpartitioned_at_idx;
ALTER SEQUENCE audit_events_id_seq OWNED BY NONE;
CREATE TABLE audit_events (LIKE audit_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (at);
ALTER TABLE audit_events ADD PRIMARY KEY (id, at);
ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id;
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_object_idx ON audit_events (object, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- Partitions from the oldest row's period to the current one plus those the
-- coordinator keeps ahead (rollout::UpdateEventsRetention, AuditEventsRetention),
-- named as rollout::PartitionName names them (monthly history of
-- update_events as update_events_pYYYYMM).
DO $$
DECLARE
  t record;
  oldest timestamptz;
  p timestamptz;
  step interval;
  last timestamptz;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('update_events', 'recorded_at', 'day', 7),
      ('audit_events', 'at', 'month', 2)) AS v(tab, col, unit, ahead)
  LOOP
    EXECUTE format('SELECT min(%I) FROM %I', t.col, t.tab || '_unpartitioned') INTO oldest;
    IF oldest IS NULL OR oldest >= now() THEN
      p := date_trunc(t.unit, now());
    ELSIF t.unit = 'day' AND oldest >= date_trunc('month', now()) THEN
      p := date_trunc('day', oldest);
    ELSE
      p := date_trunc('month', oldest);
    END IF;
    last := date_trunc(t.unit, now()) + t.ahead * ('1 ' || t.unit)::interval;
    WHILE p <= last LOOP
      -- Months before the current one, then the table's own period.
      IF t.unit = 'month' OR p < date_trunc('month', now()) THEN
        step := interval '1 month';
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       t.tab || '_p' || to_char(p, 'YYYYMM'), t.tab, p, p + step);
      ELSE
        step := interval '1 day';
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       t.tab || '_p' || to_char(p, 'YYYYMMDD'), t.tab, p, p + step);
      END IF;
      p := p + step;
    END LOOP;
  END LOOP;
END $$;

INSERT INTO update_events SELECT * FROM update_events_unpartitioned;
DROP TABLE update_events_unpartitioned;
INSERT INTO audit_events SELECT * FROM audit_events_unpartitioned;
DROP TABLE audit_events_unpartitioned;

-- Autovacuum of the hot tables. PostgreSQL's defaults vacuum a table once a
-- fifth of it is dead rows: for agents (a million rows, most updated every
-- few minutes, HOT within pages kept 30 % free by fillfactor 70) that is
-- 200,000 dead rows before vacuum comes, and the free space HOT relies on
-- runs out on the way. 2 % (20,000 at a million hosts) keeps it close; the
-- cost delay is lowered so a vacuum of 300 MB ends in seconds, not minutes.
ALTER TABLE agents SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05,
                        autovacuum_vacuum_cost_delay = 1);
-- The counters are a few hundred rows updated thousands of times a second:
-- each update leaves a dead row version, so by row count they are always
-- "mostly dead". A fixed threshold (no scale factor) and no cost delay
-- vacuum them every few seconds at a cost of milliseconds, before lookups
-- walk long chains of dead versions.
ALTER TABLE fleet_counts SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0,
                              autovacuum_vacuum_cost_delay = 0);
ALTER TABLE seen_counts SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0,
                             autovacuum_vacuum_cost_delay = 0);
ALTER TABLE schedule_counts SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0,
                                 autovacuum_vacuum_cost_delay = 0);
ALTER TABLE outcome_counts SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0,
                                autovacuum_vacuum_cost_delay = 0);
-- update_events' partitions are only inserted into: the insert threshold
-- (PostgreSQL 13+) keeps their visibility maps current for index-only scans
-- at its default; nothing to change.
