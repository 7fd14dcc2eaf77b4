-- davgate's PostgreSQL store, schema 7: the audit log (append-only through davgate; the
-- retention setting prunes the oldest).

CREATE TABLE audit_events (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    -- Whose account the event concerns; NULL for server-wide events (settings). No foreign
    -- key: a removed account's history stays.
    subject  text,
    -- The JSON event (its id is the column above).
    record   bytea NOT NULL
);
CREATE INDEX audit_events_by_subject ON audit_events (subject, id);
CREATE INDEX audit_events_by_time ON audit_events (at);
