-- davgate's PostgreSQL store, schema 9: each user's e-mail preferences.

-- Whether the informational e-mails (created, first use, expiring) are sent; the security ones
-- always are.
ALTER TABLE users ADD COLUMN mail_informational boolean NOT NULL DEFAULT true;
-- The language of the e-mails: 'en' or 'fr'.
ALTER TABLE users ADD COLUMN mail_lang text NOT NULL DEFAULT 'en';
