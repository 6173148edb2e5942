-- The gateway's record of the backups and restores it was asked for (issue 14), as
-- store_requests is of stores. `backups` is the auditor's alone and learns of a backup
-- only once its `backup.requested` event has gone through the outbox, the stream and
-- the auditor; until then these rows are what stop a second request and what the list
-- shows. Only the gateway writes them; they never hold a status.
--
-- backup_requests:  on-demand backups, with the caller's Idempotency-Key.
-- restore_requests: restores; one counts as under way until a `restore.completed` or
--                   `restore.failed` event naming it is in store_events (or the store's
--                   projection is `restoring`).
-- store_backups:    what the API lists: the auditor's rows, and the requests it has not
--                   folded yet, shown as `requested`.
-- stores:           gains the backup a clone starts from (columns appended, so the view
--                   is replaced in place and keeps its grants).

CREATE TABLE backup_requests (
    id              uuid PRIMARY KEY,              -- the backup's id, in its events
    store_id        uuid NOT NULL,
    requested_by    uuid NOT NULL,
    idempotency_key text,
    requested_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_requests_store ON backup_requests (store_id, requested_at DESC);
CREATE UNIQUE INDEX backup_requests_idempotency ON backup_requests (requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE restore_requests (
    id           uuid PRIMARY KEY,                 -- the restore's id, in its events
    store_id     uuid NOT NULL,
    backup_id    uuid NOT NULL,
    requested_by uuid NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX restore_requests_store ON restore_requests (store_id, requested_at DESC);

CREATE VIEW store_backups AS
SELECT b.id, b.store_id, b.reason, b.status, b.requested_by,
       coalesce(b.requested_at, b.updated_at) AS requested_at, b.started_at, b.completed_at,
       b.verified_at, b.deleted_at, b.size_bytes, b.engine, b.engine_version, b.orders, b.error
FROM backups b
UNION ALL
SELECT r.id, r.store_id, 'on_demand', 'requested', r.requested_by::text, r.requested_at,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM backup_requests r
WHERE NOT EXISTS (SELECT 1 FROM backups b WHERE b.id = r.id);

CREATE OR REPLACE VIEW stores AS
SELECT r.id, r.owner_id, r.name, r.slug, r.namespace, r.engine, r.plan,
       store_status(p.status, p.attempt, r.attempt, r.delete_requested_at IS NOT NULL)
           AS status,
       CASE WHEN p.attempt >= r.attempt THEN p.url END AS url,
       CASE WHEN p.attempt >= r.attempt THEN p.error END AS error,
       r.idempotency_key, r.created_at,
       greatest(r.updated_at, p.updated_at) AS updated_at,
       CASE WHEN p.attempt >= r.attempt THEN p.ready_at END AS ready_at,
       p.deleted_at, r.from_store_id, r.from_backup_id
FROM store_requests r LEFT JOIN store_states p ON p.id = r.id
UNION ALL
SELECT p.id, p.owner_id, p.name, p.slug, p.namespace, p.engine, p.plan, p.status, p.url,
       p.error, NULL, p.created_at, p.updated_at, p.ready_at, p.deleted_at, NULL, NULL
FROM store_states p
WHERE NOT EXISTS (SELECT 1 FROM store_requests r WHERE r.id = p.id);

GRANT SELECT, INSERT ON backup_requests, restore_requests TO storefleet_gateway;
GRANT SELECT ON store_backups TO storefleet_gateway;
