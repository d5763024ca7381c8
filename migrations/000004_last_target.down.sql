ALTER TABLE channels DROP COLUMN last_target_version;
