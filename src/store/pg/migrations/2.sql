-- davgate's PostgreSQL store, schema 2: room reserved in a user's quota by writes in flight on
-- any node, so that parallel uploads through different nodes cannot together pass the limit.
-- A row outlives its node at most until expires_at (a node that died never releases it).
CREATE TABLE quota_reservations (
    id         text PRIMARY KEY,
    owner      text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    expires_at timestamptz NOT NULL
);
CREATE INDEX quota_reservations_owner ON quota_reservations (owner);
