-- davgate's PostgreSQL store, schema 3: single sign-on (OpenID Connect).

-- How an account signs in to the pages, and the identity-provider identity it is linked to.
-- ext_subject is NULL for an account pre-created by e-mail, until its first sign-in.
ALTER TABLE users
    ADD COLUMN login           text NOT NULL DEFAULT 'password'
                               CHECK (login IN ('password', 'sso', 'both')),
    ADD COLUMN ext_provider    text,
    ADD COLUMN ext_issuer      text,
    ADD COLUMN ext_subject     text,
    ADD COLUMN ext_email       text,
    ADD COLUMN ext_linked_at   timestamptz,
    ADD COLUMN ext_last_sso_at timestamptz;
-- The identity is (issuer, subject): one account at most (NULL subjects never clash).
CREATE UNIQUE INDEX users_external_identity ON users (ext_issuer, ext_subject);

-- The configured providers: id -> JSON record (the client secret inside, never shown back).
CREATE TABLE oidc_providers (
    id     text PRIMARY KEY,
    record bytea NOT NULL
);

-- The refresh token of each account's last sign-in, for the refresh check.
CREATE TABLE oidc_refresh (
    username text PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    token    text NOT NULL
);
