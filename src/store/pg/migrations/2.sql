-- davgate's PostgreSQL store, schema 2: the serving nodes, so that a revoke can wait until
-- every live node has applied it (see pg/nodes.rs).
CREATE TABLE nodes (
    id              text PRIMARY KEY,
    seen_generation bigint NOT NULL,
    heartbeat_at    timestamptz NOT NULL
);
