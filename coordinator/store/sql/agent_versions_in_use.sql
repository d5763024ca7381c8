-- The (channel, version) pairs some agent runs, with the channel's control
-- plane: the out-of-policy filter keeps those rollout::OutOfPolicyReasonFor
-- flags. $1 channel ('' = all).
SELECT fleet.channel, fleet.version, chan.control_plane_version
FROM fleet_counts AS fleet JOIN channels AS chan ON chan.name = fleet.channel
WHERE $1 = '' OR fleet.channel = $1
GROUP BY fleet.channel, fleet.version, chan.control_plane_version
HAVING sum(fleet.agents) > 0
