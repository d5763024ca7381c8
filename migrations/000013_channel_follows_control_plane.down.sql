ALTER TABLE channels DROP COLUMN follows_control_plane;
