-- davgate's PostgreSQL store, schema 2: the state every node of a cluster shares.

-- WebDAV locks.
-- path is the lock's key (a leading '/', segments percent-encoded, so ASCII) in byte order
-- (COLLATE "C"), so that a subtree is the range [path/, path0) as for dead_props.
CREATE TABLE locks (
    token        text PRIMARY KEY,
    owner        text NOT NULL,
    path         text COLLATE "C" NOT NULL,
    href         text NOT NULL,
    deep         boolean NOT NULL,
    shared       boolean NOT NULL,
    principal    text,
    owner_xml    text,
    timeout_secs bigint NOT NULL CHECK (timeout_secs >= 0),
    timeout_at   timestamptz NOT NULL,
    granted      bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX locks_owner_path ON locks (owner, path);
CREATE INDEX locks_timeout_at ON locks (timeout_at);

-- The serving nodes, so that a revoke can wait until every live node has applied it
-- (see pg/nodes.rs).
CREATE TABLE nodes (
    id              text PRIMARY KEY,
    seen_generation bigint NOT NULL,
    heartbeat_at    timestamptz NOT NULL
);

-- Web sessions and the shared sign-in throttle.

-- A web session, keyed by the SHA-256 of its cookie token (never the token itself). `used`
-- orders sessions by use (least recently used first), from web_sessions_use.
CREATE TABLE web_sessions (
    token_digest  bytea PRIMARY KEY CHECK (length(token_digest) = 32),
    username      text NOT NULL,
    credential    bytea NOT NULL,
    csrf          text NOT NULL,
    signed_in     boolean NOT NULL,
    code_attempts smallint NOT NULL DEFAULT 0 CHECK (code_attempts >= 0),
    enrolment     bytea,
    created_at    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    used          bigint NOT NULL
);
CREATE SEQUENCE web_sessions_use;
CREATE INDEX web_sessions_by_use ON web_sessions (used);
CREATE INDEX web_sessions_by_user ON web_sessions (username, used);

-- Failed sign-ins per (surface, client network, user name), shared by every node.
CREATE TABLE login_throttle (
    surface     text NOT NULL,
    network     text NOT NULL,
    username    text NOT NULL,
    failures    integer NOT NULL CHECK (failures >= 0),
    last_at     timestamptz NOT NULL,
    trickled_at timestamptz,
    PRIMARY KEY (surface, network, username)
);
CREATE INDEX login_throttle_by_last ON login_throttle (last_at);

-- Room reserved in a user's quota by writes in flight on any node, so that parallel uploads
-- through different nodes cannot together pass the limit. A row outlives its node at most
-- until expires_at (a node that died never releases it).
CREATE TABLE quota_reservations (
    id         text PRIMARY KEY,
    owner      text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    expires_at timestamptz NOT NULL
);
CREATE INDEX quota_reservations_owner ON quota_reservations (owner);
