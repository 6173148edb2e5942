-- Signed webhooks (issue 17, first half). Users register endpoints through the gateway;
-- the webhooks service (services/webhooks) turns each store event into one pending
-- delivery per matching endpoint, sends them signed (Standard Webhooks), retries with
-- backoff and records every attempt.
--
-- webhook_endpoints:   the gateway's (create, list, delete, rotate the secret). The
--                      service reads them, and sets `failing` (with a reason and since
--                      when) once a delivery has used up its retries, and clears it when
--                      one goes through again. `secret` is the raw signing key: the
--                      service must sign with it, so it is kept, never logged, and shown
--                      to the owner once, as whsec_<base64>.
-- webhook_deliveries:  the service's queue and current state, one row per (endpoint,
--                      event): `body` is the event envelope as published, `stream_seq`
--                      its place in the stream (a store's events go out to an endpoint
--                      in that order), `attempt` the attempts made, `outcome` pending,
--                      delivered or failed (retries used up). `leased_until` keeps other
--                      replicas off a row while one sends it. The gateway may put a row
--                      back to pending (redelivery).
-- webhook_attempts:    the log: one row per attempt (status, latency, at most 1 KiB of
--                      the answer, or the error), written by the service.
-- Finished deliveries and their attempts are removed after the service's retention
-- (STOREFLEET_WEBHOOK_RETENTION_DAYS, 30 days).

CREATE TABLE webhook_endpoints (
    id             uuid PRIMARY KEY,
    owner_id       uuid NOT NULL REFERENCES users (id),
    url            text NOT NULL CHECK (length(url) <= 2048),
    event_types    text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
    store_id       uuid,
    secret         bytea NOT NULL CHECK (length(secret) BETWEEN 24 AND 64),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    failing        boolean NOT NULL DEFAULT false,
    failing_reason text NOT NULL DEFAULT '',
    failing_since  timestamptz
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_id, created_at);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    store_id        text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    stream_seq      bigint NOT NULL,
    body            bytea NOT NULL,
    attempt         integer NOT NULL DEFAULT 0,
    outcome         text NOT NULL DEFAULT 'pending'
                    CHECK (outcome IN ('pending', 'delivered', 'failed')),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    status_code     integer,
    latency_ms      integer,
    response        text NOT NULL DEFAULT '' CHECK (length(response) <= 1024),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (endpoint_id, event_id)
);
-- What the senders look for: an endpoint's pending rows, per store in stream order.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, store_id, stream_seq)
    WHERE outcome = 'pending';
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    status_code  integer,
    latency_ms   integer NOT NULL,
    response     text NOT NULL DEFAULT '' CHECK (length(response) <= 1024),
    error        text NOT NULL DEFAULT '' CHECK (length(error) <= 200),
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'storefleet_webhooks') THEN
        BEGIN
            CREATE ROLE storefleet_webhooks NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration made it meanwhile
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO storefleet_webhooks', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO storefleet_webhooks;

-- The gateway: services/gateway/webhook_db.py. It never reads an endpoint's secret back
-- after creating it (the column is in no SELECT it may run).
GRANT SELECT (id, owner_id, url, event_types, store_id, description, created_at, failing,
              failing_reason, failing_since),
      INSERT, DELETE ON webhook_endpoints TO storefleet_gateway;
GRANT UPDATE (secret) ON webhook_endpoints TO storefleet_gateway;
GRANT SELECT (id, endpoint_id, event_id, event_type, store_id, occurred_at, attempt, outcome,
              next_attempt_at, status_code, latency_ms, response, created_at, delivered_at)
      ON webhook_deliveries TO storefleet_gateway;
GRANT UPDATE (attempt, outcome, next_attempt_at, leased_until) ON webhook_deliveries
    TO storefleet_gateway;
GRANT SELECT ON webhook_attempts TO storefleet_gateway;

-- The webhooks service: services/webhooks/intake.py and queue.py. To match an event to
-- endpoints it reads whose the store is (the `stores` view) and whether the endpoint's
-- owner is an administrator (all stores) or disabled (none).
GRANT SELECT ON schema_migrations, webhook_endpoints TO storefleet_webhooks;
GRANT SELECT (id, role, disabled) ON users TO storefleet_webhooks;
GRANT SELECT ON stores TO storefleet_webhooks;
GRANT EXECUTE ON FUNCTION store_status(text, integer, integer, boolean) TO storefleet_webhooks;
GRANT UPDATE (failing, failing_reason, failing_since) ON webhook_endpoints
    TO storefleet_webhooks;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries, webhook_attempts
    TO storefleet_webhooks;  -- DELETE: finished rows past the retention (queue.prune)
GRANT USAGE ON SEQUENCE webhook_deliveries_id_seq, webhook_attempts_id_seq
    TO storefleet_webhooks;
