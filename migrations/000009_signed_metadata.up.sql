-- Signed target metadata (proto/drover/v1/metadata.proto, trust/metadata.h).
-- Envelopes are stored as the serialized SignedEnvelope bytes, verified by the
-- coordinator before they are written (so a typo cannot break every updater).

-- Root successors (RootMetadata version >= 2), served to updaters as a chain.
-- The first root is only a public key pinned on the updaters and the
-- coordinator (--root_public_key_file): it has no row.
CREATE TABLE trust_roots (
    version bigint PRIMARY KEY CHECK (version >= 2),
    key_id text NOT NULL UNIQUE,
    envelope bytea NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);

-- Delegations of the online targets key, signed by a root key. A replica
-- serves the newest one for the targets key it holds.
CREATE TABLE trust_delegations (
    id bigserial PRIMARY KEY,
    targets_key_id text NOT NULL,
    root_key_id text NOT NULL,
    version bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    envelope bytea NOT NULL UNIQUE,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trust_delegations_by_key ON trust_delegations (targets_key_id, version DESC);

-- Each channel's signed answer. No foreign key to channels on purpose: a
-- channel deleted and made again keeps counting up, so an updater never sees
-- a version it has seen before. `version` only grows: every change of the
-- answer and every re-signing bumps it, under the row lock (FOR UPDATE) so
-- replicas signing at once take turns and the second finds the first's work.
-- `content` is the answer without version and times, compared to decide
-- whether the channel changed. A row of version 0 with an empty envelope is
-- a placeholder to lock before the first signature.
CREATE TABLE channel_metadata (
    channel text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 0),
    content bytea NOT NULL,
    targets_key_id text NOT NULL,
    expires_at timestamptz NOT NULL,
    envelope bytea NOT NULL,
    signed_at timestamptz NOT NULL
);
