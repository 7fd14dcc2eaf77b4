-- davgate's PostgreSQL store: where each app password was used from (issue 15). Named 7.sql
-- by agreement with the helpers working beside this one; the lead renumbers at merge.

-- The last five distinct networks (IPv4 /24, IPv6 /64) each password was used from, newest
-- first, as JSON: [{"network", "first_at", "last_at", "user_agent"}].
ALTER TABLE app_passwords ADD COLUMN networks text NOT NULL DEFAULT '[]';

-- Where security e-mails go, set by an admin or the user (NULL: the provider's ext_email).
ALTER TABLE users ADD COLUMN email text;
