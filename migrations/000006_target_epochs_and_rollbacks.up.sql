-- Whether the last target was set as a roll-back, kept (like
-- last_target_version) when the target is cleared: setting that version
-- again is still a roll-back and needs allow_downgrade.
ALTER TABLE channels ADD COLUMN last_target_allows_downgrade boolean NOT NULL DEFAULT false;
UPDATE channels SET last_target_allows_downgrade = target_allows_downgrade WHERE target_version IS NOT NULL;
-- Channels whose target is cleared now: the last target change since the
-- channel was (re)created says whether it was a roll-back.
UPDATE channels c SET last_target_allows_downgrade = coalesce((
    SELECT ch.new_value LIKE '% (downgrade)' FROM channel_changes ch
    WHERE ch.channel = c.name AND ch.field = 'target_version' AND ch.new_value <> 'none'
      AND ch.id > coalesce((SELECT max(id) FROM channel_changes WHERE channel = c.name AND field = 'created'), 0)
    ORDER BY ch.id DESC LIMIT 1), false)
WHERE c.target_version IS NULL AND c.last_target_version IS NOT NULL;

-- Kept by the database, like last_target_version, so a replica that predates
-- the column (during a rolling upgrade) keeps it right too.
CREATE OR REPLACE FUNCTION channels_keep_last_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.target_version IS NOT NULL THEN
    NEW.last_target_version := NEW.target_version;
    NEW.last_target_allows_downgrade := NEW.target_allows_downgrade;
  ELSIF TG_OP = 'UPDATE' THEN
    NEW.last_target_version := OLD.last_target_version;
    NEW.last_target_allows_downgrade := OLD.last_target_allows_downgrade;
  END IF;
  RETURN NEW;
END $$;

-- A channel created with a target used to stay in epoch 0, where every
-- outcome counts (failures towards other versions, outcomes that finished
-- before the target was set). Channels still there move to epoch 1, counted
-- afresh from their update history with the rule the ingest statement
-- applies (reached for the target, finished at most 5 minutes before it was
-- set); epoch 0 keeps the old counts as the epoch before.
WITH moved AS (
  UPDATE channels SET target_epoch = 1
  WHERE target_epoch = 0 AND target_version IS NOT NULL AND target_updated_at IS NOT NULL
  RETURNING name, target_version, target_updated_at, created_at)
INSERT INTO outcome_counts (channel, target_epoch, result, shard, outcomes)
SELECT e.channel, 1, e.result, 0, count(*)
FROM update_events e JOIN moved m ON e.channel = m.name
WHERE e.recorded_at >= m.created_at AND e.to_version = m.target_version
  AND e.finished_at >= m.target_updated_at - interval '5 minutes'
GROUP BY e.channel, e.result;
