-- The system of record (docs/architecture.md, section 3): users, API tokens, stores, the outbox the
-- gateway publishes from, and the audit log the auditor writes.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,               -- argon2id
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    max_stores    integer CHECK (max_stores IS NULL OR max_stores >= 0),  -- NULL: the default
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,         -- sha256 of the token; the token is shown once
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE stores (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL REFERENCES users (id),
    name            text NOT NULL,
    slug            text NOT NULL,
    namespace       text NOT NULL,
    engine          text NOT NULL,
    plan            text NOT NULL,
    status          text NOT NULL CHECK (status IN
                    ('requested', 'provisioning', 'ready', 'failed', 'deleting', 'deleted')),
    url             text,
    error           text,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    ready_at        timestamptz,
    deleted_at      timestamptz
);
-- A slug is unique among stores that are not deleted.
CREATE UNIQUE INDEX stores_live_slug ON stores (slug) WHERE status <> 'deleted';
CREATE UNIQUE INDEX stores_owner_idempotency ON stores (owner_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX stores_owner_created ON stores (owner_id, created_at DESC);
CREATE INDEX stores_status ON stores (status);

CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL UNIQUE,           -- also the Nats-Msg-Id
    subject    text NOT NULL,
    envelope   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE store_events (
    event_id    text PRIMARY KEY,
    store_id    text NOT NULL,
    type        text NOT NULL,
    subject     text NOT NULL,
    actor       text NOT NULL,
    occurred_at timestamptz NOT NULL,
    envelope    jsonb NOT NULL,
    stream_seq  bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- "Who did what to which store, when": one index answers per-store timelines by type.
CREATE INDEX store_events_store ON store_events (store_id, type, occurred_at);
CREATE INDEX store_events_actor ON store_events (actor, occurred_at);
CREATE INDEX store_events_occurred ON store_events (occurred_at);
CREATE INDEX store_events_seq ON store_events (stream_seq);
