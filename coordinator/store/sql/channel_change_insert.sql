-- One entry of a channel's audit trail.
-- $1 channel  $2 field  $3 old_value  $4 new_value  $5 actor ('' = none)
INSERT INTO channel_changes (channel, field, old_value, new_value, actor)
VALUES ($1, $2, $3, $4, NULLIF($5, ''))
