DROP TABLE IF EXISTS outcome_counts;
DROP TABLE IF EXISTS fleet_counts;
DROP TABLE IF EXISTS channel_changes;
DROP TABLE IF EXISTS update_events;
DROP TABLE IF EXISTS agents;
DROP TABLE IF EXISTS channels;
