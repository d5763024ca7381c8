-- A channel's policy groups, in order. $1 channel  $2 names (text[])
-- $3 their windows (text[], EncodeWindows; '' any time).
INSERT INTO rollout_policy_groups (channel, position, name, windows)
SELECT $1, g.ord - 1, g.name, g.windows
FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS g (name, windows, ord)
