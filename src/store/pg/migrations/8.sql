-- davgate's PostgreSQL store, schema 8: where each app password was used from.

-- The last five distinct networks (IPv4 /24, IPv6 /64) each password was used from, newest
-- first, as JSON: [{"network", "first_at", "last_at", "user_agent"}].
ALTER TABLE app_passwords ADD COLUMN networks text NOT NULL DEFAULT '[]';

-- Where security e-mails go, set by an admin or the user (NULL: the provider's ext_email).
ALTER TABLE users ADD COLUMN email text;
