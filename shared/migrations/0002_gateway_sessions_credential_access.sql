-- Gateway-owned tables (issue 3): browser login sessions, the audit of who viewed a
-- store's credentials (the auditor owns store_events; this is the gateway's own record),
-- and a NOTIFY that wakes the outbox relays as soon as an outbox row commits.

CREATE TABLE sessions (
    token_hash text PRIMARY KEY,               -- sha256 of the cookie value
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE credential_access (
    id             bigserial PRIMARY KEY,
    store_id       uuid NOT NULL REFERENCES stores (id),
    user_id        uuid NOT NULL REFERENCES users (id),
    outcome        text NOT NULL CHECK (outcome IN ('granted', 'refused', 'unavailable')),
    correlation_id text NOT NULL,
    accessed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credential_access_store ON credential_access (store_id, accessed_at);
CREATE INDEX credential_access_user ON credential_access (user_id, accessed_at);
CREATE INDEX credential_access_accessed ON credential_access (accessed_at);

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('storefleet_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
