-- Host identities (issue 14): join tokens an operator creates and updaters
-- trade for a client certificate, and every certificate the coordinator's CA
-- issued, so reports and renewals can be refused once a host is revoked.

-- Only the SHA-256 of a token is kept: a database dump does not let anyone
-- enrol. Single use (used_at), expiring, bound to a channel; a channel's
-- unused tokens go with it.
CREATE TABLE join_tokens (
    token_sha256 text PRIMARY KEY,          -- lowercase hex
    channel      text NOT NULL REFERENCES channels (name) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    used_by_host text
);
CREATE INDEX join_tokens_expires_idx ON join_tokens (expires_at);

-- One row per issued certificate. channel is the one the host enrolled for
-- (also in the certificate, as its OU); revoked_at is set for every
-- certificate of a host by RevokeAgent, and for a host's older certificates
-- when it enrols again. Rows are kept after expiry (the record of what was
-- issued); the revocation list reads only those not yet expired.
CREATE TABLE host_certificates (
    serial       text PRIMARY KEY,          -- uppercase hex, as OpenSSL prints it
    host_id      text NOT NULL,
    channel      text NOT NULL,
    issued_at    timestamptz NOT NULL,
    not_after    timestamptz NOT NULL,
    renewed_from text,                      -- serial of the certificate a Renew presented
    revoked_at   timestamptz
);
CREATE INDEX host_certificates_host_idx ON host_certificates (host_id);
CREATE INDEX host_certificates_revoked_idx ON host_certificates (not_after) WHERE revoked_at IS NOT NULL;
