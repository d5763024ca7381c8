-- One publication of roots and delegations at a time: the version checks
-- and the inserts of a publication see the same tables. Readers (ACCESS
-- SHARE) are not blocked.
LOCK TABLE trust_roots, trust_delegations IN SHARE ROW EXCLUSIVE MODE
