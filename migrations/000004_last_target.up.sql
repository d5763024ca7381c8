-- The most recent target of a channel, kept when the target is cleared, so
-- that clearing a target and then setting a lower one still counts as a
-- roll-back (and needs allow_downgrade).
ALTER TABLE channels ADD COLUMN last_target_version text;
UPDATE channels SET last_target_version = target_version WHERE target_version IS NOT NULL;
-- Channels whose target is cleared now: the target the last clear replaced,
-- looking only at this channel's history since it was (re)created (changes
-- outlive a deleted channel of the same name).
UPDATE channels c SET last_target_version = (
    SELECT old_value FROM channel_changes ch
    WHERE ch.channel = c.name AND ch.field = 'target_version' AND ch.new_value = 'none' AND ch.old_value <> 'none'
      AND ch.id > coalesce((SELECT max(id) FROM channel_changes WHERE channel = c.name AND field = 'created'), 0)
    ORDER BY ch.id DESC LIMIT 1)
WHERE c.target_version IS NULL;

-- Kept by the database on every write, so a replica that predates this
-- column (during a rolling upgrade) keeps it right too.
CREATE FUNCTION channels_keep_last_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.target_version IS NOT NULL THEN
    NEW.last_target_version := NEW.target_version;
  ELSIF TG_OP = 'UPDATE' THEN
    NEW.last_target_version := OLD.last_target_version;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER channels_keep_last_target BEFORE INSERT OR UPDATE OF target_version ON channels
    FOR EACH ROW EXECUTE FUNCTION channels_keep_last_target();
