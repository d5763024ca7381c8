DROP TABLE channel_metadata;
DROP TABLE trust_delegations;
DROP TABLE trust_roots;
