-- davgate's PostgreSQL store, schema 1: what the redb file holds, one table per redb table.
CREATE TABLE users (
    name             text PRIMARY KEY,
    role             text NOT NULL CHECK (role IN ('admin', 'user')),
    password_hash    text NOT NULL,
    created_at       timestamptz NOT NULL,
    disabled         boolean NOT NULL DEFAULT false,
    quota_bytes      bigint CHECK (quota_bytes >= 0),
    totp_secret      bytea,
    totp_enrolled_at timestamptz,
    totp_last_step   bigint NOT NULL DEFAULT 0
);

CREATE TABLE app_passwords (
    id            text PRIMARY KEY,
    owner         text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name          text NOT NULL,
    secret_hash   text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    access_method text,
    user_agent    text,
    first_used_at timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX app_passwords_owner ON app_passwords (owner, created_at);

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- COLLATE "C": byte order, so that a subtree is the range [path/, path0) as in redb.
CREATE TABLE dead_props (
    owner  text NOT NULL,
    path   text COLLATE "C" NOT NULL,
    prop   text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (owner, path, prop)
);

CREATE TABLE dead_props_usage (
    owner text PRIMARY KEY,
    count bigint NOT NULL,
    bytes bigint NOT NULL
);
