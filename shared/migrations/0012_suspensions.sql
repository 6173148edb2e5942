-- Store operations (issue 15): suspend, resume and plan changes. A suspension and a
-- resumption are operations with an id of their own, like a restore:
-- `store_states.operation_id` names the one the projection last saw start
-- (shared.lifecycle SUSPEND_MOVES), so the end of an older operation never moves the
-- store. A plan change moves no status; `plan.changed` sets `store_states.plan`.
--
-- store_operations: the gateway's record of the operations it was asked for. One counts
--                   as under way until a `<kind>.completed|failed` (for a plan:
--                   `plan.changed|failed`) event naming it is in store_events; until then
--                   no other may be asked for. Only the gateway writes it.
-- stores:           shows the projection's plan once there is one (a changed plan),
--                   the request's before; the view is replaced in place and keeps its
--                   grants. A retry's `requested` event is built from it, so a retry
--                   provisions the store on the plan it is on.
--
-- Engine versions (issue 15): `store_requests.engine_version` is the version the gateway
-- asked for (the engine's default at creation), `store_states.engine_version` the one
-- the last `requested` event named; the view shows the projection's once there is one.
-- NULL: a store asked for before versions existed, which runs its engine's default.
-- The column is last in both SELECT lists, so CREATE OR REPLACE VIEW can add it.

ALTER TABLE store_states ADD COLUMN operation_id uuid;
ALTER TABLE store_states ADD COLUMN engine_version text;
ALTER TABLE store_requests ADD COLUMN engine_version text;

CREATE TABLE store_operations (
    id           uuid PRIMARY KEY,                 -- the operation's id, in its events
    store_id     uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('suspend', 'resume', 'plan')),
    requested_by uuid NOT NULL,
    reason       text NOT NULL DEFAULT '',
    plan         text,                             -- a plan change's new plan
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_operations_store ON store_operations (store_id, requested_at DESC);

GRANT SELECT, INSERT ON store_operations TO storefleet_gateway;

CREATE OR REPLACE VIEW stores AS
SELECT r.id, r.owner_id, r.name, r.slug, r.namespace, r.engine,
       coalesce(p.plan, r.plan) AS plan,
       store_status(p.status, p.attempt, r.attempt, r.delete_requested_at IS NOT NULL)
           AS status,
       CASE WHEN p.attempt >= r.attempt THEN p.url END AS url,
       CASE WHEN p.attempt >= r.attempt THEN p.error END AS error,
       r.idempotency_key, r.created_at,
       greatest(r.updated_at, p.updated_at) AS updated_at,
       CASE WHEN p.attempt >= r.attempt THEN p.ready_at END AS ready_at,
       p.deleted_at, r.from_store_id, r.from_backup_id,
       coalesce(p.engine_version, r.engine_version) AS engine_version
FROM store_requests r LEFT JOIN store_states p ON p.id = r.id
UNION ALL
SELECT p.id, p.owner_id, p.name, p.slug, p.namespace, p.engine, p.plan, p.status, p.url,
       p.error, NULL, p.created_at, p.updated_at, p.ready_at, p.deleted_at, NULL, NULL,
       p.engine_version
FROM store_states p
WHERE NOT EXISTS (SELECT 1 FROM store_requests r WHERE r.id = p.id);
