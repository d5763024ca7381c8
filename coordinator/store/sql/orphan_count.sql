-- Orphaned hosts now. $1 visible for, in seconds (see orphan_is_current).
SELECT count(*) AS hosts
FROM orphan_hosts AS orphan
WHERE {{orphan_is_current}}
