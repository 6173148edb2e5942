-- Suspend and resume (issue 15). A suspension and a resumption are operations with an id
-- of their own, like a restore: `store_states.operation_id` names the one the projection
-- last saw start (shared.lifecycle SUSPEND_MOVES), so the end of an older operation never
-- moves the store.
--
-- store_operations: the gateway's record of the suspensions and resumptions it was asked
--                   for. One counts as under way until a `<kind>.completed` or
--                   `<kind>.failed` event naming it is in store_events; until then no
--                   other may be asked for. Only the gateway writes it.

ALTER TABLE store_states ADD COLUMN operation_id uuid;

CREATE TABLE store_operations (
    id           uuid PRIMARY KEY,                 -- the operation's id, in its events
    store_id     uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('suspend', 'resume')),
    requested_by uuid NOT NULL,
    reason       text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_operations_store ON store_operations (store_id, requested_at DESC);

GRANT SELECT, INSERT ON store_operations TO storefleet_gateway;
