-- davgate's PostgreSQL store, schema 6: single sign-on flows shared by the nodes, so that a
-- provider's callback reaching another node than the one that started the flow still finds it.
-- Keyed by the SHA-256 of the flow cookie's token; taken out once (DELETE ... RETURNING).
CREATE TABLE oidc_flows (
    digest        bytea PRIMARY KEY,
    provider      text NOT NULL,
    state         text NOT NULL,
    nonce         text NOT NULL,
    pkce_verifier text NOT NULL,
    next          text NOT NULL,
    started_at    timestamptz NOT NULL
);
CREATE INDEX oidc_flows_by_age ON oidc_flows (started_at);
