-- davgate's PostgreSQL store, schema 9: files on object storage (src/objectfs).

-- Each user's namespace: one row per file or folder below the home (the home itself, '/', is
-- implicit). `path` is the dead-property key of the resource (the decoded path, escaped, no
-- trailing slash), `parent` its folder's; `blob` the file's content in the bucket (NULL for a
-- folder). A MOVE rewrites the paths of a subtree in one statement; no object moves.
CREATE TABLE object_entries (
    owner text NOT NULL,
    path text COLLATE "C" NOT NULL,
    parent text COLLATE "C" NOT NULL,
    is_dir boolean NOT NULL,
    size bigint NOT NULL DEFAULT 0,
    modified timestamptz NOT NULL,
    blob text,
    PRIMARY KEY (owner, path)
);
CREATE INDEX object_entries_children ON object_entries (owner, parent, path);

-- Blobs being uploaded (recorded before the first byte is sent): a node that dies mid-upload
-- leaves its row, and the collector removes the blob (and aborts what it can) after a delay.
CREATE TABLE object_pending (
    blob text PRIMARY KEY,
    node text NOT NULL,
    started_at timestamptz NOT NULL
);

-- Blobs no file points at any more (replaced, deleted), removed from the bucket once
-- `collect_after` has passed: a GET that started before the change keeps reading until then.
CREATE TABLE object_garbage (
    blob text PRIMARY KEY,
    collect_after timestamptz NOT NULL
);
CREATE INDEX object_garbage_due ON object_garbage (collect_after);
