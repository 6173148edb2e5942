-- For the auditor (issue 5): the stores projection it keeps from store events, and the
-- reaper's stuck-store sweep.

-- The auditor creates a store's row from its `requested` event when nobody else has (a
-- `rebuild` into empty tables, events published straight to the stream). The owner named
-- in that event need not be a row of `users` then, so the projection cannot hold a
-- foreign key to it. The gateway still only writes owners it has authenticated.
ALTER TABLE stores DROP CONSTRAINT IF EXISTS stores_owner_id_fkey;

-- The highest stream sequence folded into this row. An event with a lower sequence
-- arrived out of order: the auditor then refolds the row from the audit log in stream
-- order, so the live projection always equals a replay of the stream. 0: no event yet
-- (a row the gateway has just inserted); -1: marked by `rebuild --in-place`, refolded by
-- the replay.
ALTER TABLE stores ADD COLUMN IF NOT EXISTS last_event_seq bigint NOT NULL DEFAULT 0;

-- The reaper's sweep looks for stores stuck in a transitional status, oldest first.
CREATE INDEX IF NOT EXISTS stores_in_transition ON stores (status, updated_at)
    WHERE status IN ('requested', 'provisioning', 'deleting');
