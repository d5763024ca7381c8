-- A channel may follow its control plane (Teleport's "stable/rolling"): its
-- target is the control-plane version, always (rollout::SetControlPlane).
-- Existing channels do not follow. On Citus, channels is a reference table
-- and the column reaches every node.
ALTER TABLE channels ADD COLUMN follows_control_plane boolean NOT NULL DEFAULT false;
