-- davgate's PostgreSQL store, schema 4: a lock remembers the app password that took it, so
-- that revoking the password deletes its locks in the same transaction.
ALTER TABLE locks ADD COLUMN app_password text;
CREATE INDEX locks_app_password ON locks (app_password) WHERE app_password IS NOT NULL;
