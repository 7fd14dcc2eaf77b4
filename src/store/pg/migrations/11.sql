-- davgate's PostgreSQL store, schema 11: the bytes each user's files on object storage take.

-- Kept by the same transactions that change sizes (a PUT's commit, a DELETE), so that a commit
-- can refuse to pass the user's quota with one conditional update: two nodes committing at once
-- take turns on the row and cannot both pass.
CREATE TABLE object_usage (
    owner text PRIMARY KEY,
    used bigint NOT NULL CHECK (used >= 0)
);
INSERT INTO object_usage (owner, used)
    SELECT owner, SUM(size)::bigint FROM object_entries GROUP BY owner;
