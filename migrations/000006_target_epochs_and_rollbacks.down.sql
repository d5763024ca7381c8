-- The epoch fix stays: epoch 1 is what the earlier code gives a channel
-- after its first SetTargetVersion too.
CREATE OR REPLACE FUNCTION channels_keep_last_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.target_version IS NOT NULL THEN
    NEW.last_target_version := NEW.target_version;
  ELSIF TG_OP = 'UPDATE' THEN
    NEW.last_target_version := OLD.last_target_version;
  END IF;
  RETURN NEW;
END $$;
ALTER TABLE channels DROP COLUMN last_target_allows_downgrade;
