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
