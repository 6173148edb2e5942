-- One writer per table (issue 13). Until now the gateway and the auditor both wrote
-- `stores.status`, and the projection carried rules to reconcile them.
--
-- store_states:   the auditor's projection of each store's events, and only the auditor
--                 writes it (the old `stores` table, renamed). A rebuild from the stream
--                 gives the same rows.
-- store_requests: the gateway's record of what it was asked: the request, its
--                 Idempotency-Key, and the commands sent since (retries, a delete). Only
--                 the gateway writes it; it never holds a status.
-- stores:         a view joining both, which is what the API shows. Its status is the
--                 projection's unless a command the gateway recorded is further along
--                 (`store_status`, the rule `shared.lifecycle.shown` states; a test
--                 compares the two), so an answer never shows a status older than one
--                 already shown. One indexed lookup per store.

ALTER TABLE stores RENAME TO store_states;
-- The gateway's credential log names stores it has shown, projected or not yet: a log
-- entry (like store_events) holds no foreign key.
ALTER TABLE credential_access DROP CONSTRAINT IF EXISTS credential_access_store_id_fkey;
ALTER INDEX stores_pkey RENAME TO store_states_pkey;
ALTER INDEX stores_live_slug RENAME TO store_states_live_slug;
ALTER INDEX stores_owner_created RENAME TO store_states_owner_created;
ALTER INDEX stores_status RENAME TO store_states_status;
DROP INDEX stores_in_transition;
CREATE INDEX store_states_status_updated ON store_states (status, updated_at);
CREATE INDEX store_states_slug ON store_states (slug);
-- The statuses are shared.lifecycle's; only the fold there writes them.
ALTER TABLE store_states DROP CONSTRAINT IF EXISTS stores_status_check;
-- How many `requested` events the row has folded (the first is 1, each retry adds one).
ALTER TABLE store_states ADD COLUMN attempt integer NOT NULL DEFAULT 1;

CREATE TABLE store_requests (
    id                  uuid PRIMARY KEY,
    owner_id            uuid NOT NULL,
    name                text NOT NULL,
    slug                text NOT NULL,
    namespace           text NOT NULL,
    engine              text NOT NULL,
    plan                text NOT NULL,
    idempotency_key     text,
    attempt             integer NOT NULL DEFAULT 1,   -- `requested` events sent
    delete_requested_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()  -- the last command
);
CREATE UNIQUE INDEX store_requests_owner_idempotency ON store_requests (owner_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX store_requests_owner_created ON store_requests (owner_id, created_at DESC);
CREATE INDEX store_requests_created ON store_requests (created_at DESC, id DESC);
CREATE INDEX store_requests_slug ON store_requests (slug);

INSERT INTO store_requests
    (id, owner_id, name, slug, namespace, engine, plan, idempotency_key,
     delete_requested_at, created_at, updated_at)
SELECT id, owner_id, name, slug, namespace, engine, plan, idempotency_key,
       CASE WHEN status IN ('deleting', 'deleted') THEN updated_at END, created_at, updated_at
FROM store_states;

DROP INDEX stores_owner_idempotency;
ALTER TABLE store_states DROP COLUMN idempotency_key;

CREATE FUNCTION store_status(
    projected text, projected_attempt integer, requested_attempt integer,
    delete_requested boolean
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN projected IN ('deleting', 'deleted') THEN projected
        WHEN delete_requested THEN 'deleting'
        WHEN projected IS NULL OR projected_attempt < requested_attempt THEN 'requested'
        ELSE projected
    END
$$;

-- A retry the projection has not folded yet starts clean: no url, error or ready_at.
CREATE VIEW stores AS
SELECT r.id, r.owner_id, r.name, r.slug, r.namespace, r.engine, r.plan,
       store_status(p.status, p.attempt, r.attempt, r.delete_requested_at IS NOT NULL)
           AS status,
       CASE WHEN p.attempt >= r.attempt THEN p.url END AS url,
       CASE WHEN p.attempt >= r.attempt THEN p.error END AS error,
       r.idempotency_key, r.created_at,
       greatest(r.updated_at, p.updated_at) AS updated_at,
       CASE WHEN p.attempt >= r.attempt THEN p.ready_at END AS ready_at,
       p.deleted_at
FROM store_requests r LEFT JOIN store_states p ON p.id = r.id
UNION ALL
-- Stores known from their events alone (published by another tool, or requests lost
-- with a database restored from an older backup): as the projection has them.
SELECT p.id, p.owner_id, p.name, p.slug, p.namespace, p.engine, p.plan, p.status, p.url,
       p.error, NULL, p.created_at, p.updated_at, p.ready_at, p.deleted_at
FROM store_states p
WHERE NOT EXISTS (SELECT 1 FROM store_requests r WHERE r.id = p.id);
