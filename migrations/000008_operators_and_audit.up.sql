-- Operator identities (bearer tokens the coordinator issues) and the audit
-- trail of every mutation, refused ones included (issue 14).

-- One row per issued token. Only the token's SHA-256 is kept: a copy of the
-- database does not let anyone act as an operator. A name is unique among
-- tokens not revoked, so a revoked name can be issued again.
CREATE TABLE operator_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX operator_tokens_active_name_idx ON operator_tokens (name) WHERE revoked_at IS NULL;

-- Who did what, when, from where, and what it changed. A mutation's row is
-- written in the transaction of the change itself; a refused one in a
-- transaction of its own. Never updated or deleted by the coordinator.
CREATE TABLE audit_events (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    peer      text NOT NULL,
    method    text NOT NULL,
    object    text NOT NULL DEFAULT '',
    old_value text NOT NULL DEFAULT '',
    new_value text NOT NULL DEFAULT '',
    result    text NOT NULL CHECK (result IN ('ok', 'refused')),
    reason    text NOT NULL DEFAULT ''
);
-- Listings page newest first by id, narrowed by one of these.
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_object_idx ON audit_events (object, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);
