ALTER TABLE agents DROP COLUMN updating_to;
ALTER TABLE channels DROP COLUMN rollout_listed_groups, DROP COLUMN rollout_catch_all_off, DROP COLUMN rollout_mode, DROP COLUMN rollout_start_version, DROP COLUMN rollout_id;
DROP TABLE rollout_hosts;
DROP TABLE rollout_groups;
DROP TABLE rollouts;
DROP TABLE rollout_policy_groups;
DROP TABLE rollout_policies;
DROP INDEX agents_channel_group_idx;
