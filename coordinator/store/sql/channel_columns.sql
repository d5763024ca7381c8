-- Fragment: the columns a channel is decoded from (ChannelFromRow in
-- pg_rows.cc), times as Unix microseconds. Over the channels table alone.
name,
target_version,
target_allows_downgrade,
(extract(epoch FROM target_updated_at) * 1000000)::bigint AS target_updated_at_us,
target_epoch,
critical,
critical_reason,
(extract(epoch FROM critical_updated_at) * 1000000)::bigint AS critical_updated_at_us,
control_plane_version,
maintenance_windows,
poll_interval_ms,
(extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us,
(extract(epoch FROM updated_at) * 1000000)::bigint AS updated_at_us,
generation,
last_target_version,
last_target_allows_downgrade
