-- davgate's PostgreSQL store, schema 3: app passwords with a scope and an optional expiry.

-- NULL: never expires (only where app_credentials_max_ttl is none).
ALTER TABLE app_passwords ALTER COLUMN expires_at DROP NOT NULL;
-- What the password may do: read_write, read_only or upload_only.
ALTER TABLE app_passwords ADD COLUMN access text NOT NULL DEFAULT 'read_write'
    CHECK (access IN ('read_write', 'read_only', 'upload_only'));
-- The folder of the home served as its /dav/ ('/Projects'); NULL: the whole home.
ALTER TABLE app_passwords ADD COLUMN folder text;
-- The networks it may be used from ('10.0.0.0/8'); empty: anywhere.
ALTER TABLE app_passwords ADD COLUMN allow_from text[] NOT NULL DEFAULT '{}';
