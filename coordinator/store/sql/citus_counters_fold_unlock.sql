SELECT pg_advisory_unlock(hashtext('drover.counters_fold'))
