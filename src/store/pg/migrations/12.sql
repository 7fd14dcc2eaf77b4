-- davgate's PostgreSQL store, schema 12: the object-storage collector (src/objectfs/gc.rs).

-- A garbage blob that came from an upload that never finished (cut off, refused, or left by a
-- node that was killed): a multipart upload may still be open on its key, and the collector
-- aborts it before removing the blob. Replaced and deleted contents were complete: false.
ALTER TABLE object_garbage ADD COLUMN unfinished boolean NOT NULL DEFAULT false;
