-- Citus: this transaction writes shards one worker connection at a time, so
-- that it may then write a reference table the shards refer to (which Citus
-- refuses after a parallel multi-shard write).
SET LOCAL citus.multi_shard_modify_mode TO 'sequential'
