DROP TRIGGER channels_keep_last_target ON channels;
DROP FUNCTION channels_keep_last_target();
ALTER TABLE channels DROP COLUMN last_target_version;
