-- One Postgres role per service (issue 19). Until now the gateway, the reaper and the
-- auditor shared the migration owner's role, so any of them could rewrite any table.
-- Three group roles, NOLOGIN, hold exactly the grants their service's SQL needs; the
-- services log in as login roles that are members of them, made and given passwords by
-- `python -m shared.db_roles` (docs/security.md). The provisioner has no database.
--
--   storefleet_gateway  accounts and credentials, its store requests and outbox, its
--                       credential log; reads the projection, the audit log and `stores`
--   storefleet_auditor  appends to store_events (never changes or removes an entry) and
--                       writes store_states; nothing of the gateway's
--   storefleet_reaper   reads store_states
--
-- The gateway and the auditor read schema_migrations: they check the schema is current
-- at start-up. Only the owner applies migrations; `rebuild --in-place` empties the audit
-- log and so also needs the owner.
--
-- Roles belong to the whole cluster, grants to this database. The roles are made only
-- when missing: a second database of the same cluster (the tests make many, some at
-- once) finds them, or loses the race to make one and goes on. An operator whose owner
-- may not create roles makes the three NOLOGIN roles first; this file then only grants.
--
-- A later migration that adds a table or a sequence grants it here-style, explicitly:
-- nothing is granted by default.

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY
        ARRAY['storefleet_gateway', 'storefleet_auditor', 'storefleet_reaper']
    LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration made it meanwhile
            END;
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), role_name);
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role_name);
    END LOOP;
END
$$;

GRANT SELECT ON schema_migrations TO storefleet_gateway, storefleet_auditor;

-- The gateway: services/gateway/accounts.py, store_db.py, outbox.py, audit_db.py,
-- owners.py. `SELECT ... FOR UPDATE` on users and store_requests needs UPDATE.
GRANT SELECT, INSERT, UPDATE ON users, api_tokens, store_requests, outbox
    TO storefleet_gateway;
GRANT SELECT, INSERT, DELETE ON sessions TO storefleet_gateway;
GRANT SELECT, INSERT ON credential_access TO storefleet_gateway;
GRANT SELECT ON stores, store_states, store_events TO storefleet_gateway;
GRANT USAGE ON SEQUENCE outbox_id_seq, credential_access_id_seq TO storefleet_gateway;

-- The auditor: services/auditor/store.py. `FOR UPDATE` on store_states needs UPDATE.
GRANT SELECT, INSERT ON store_events TO storefleet_auditor;
GRANT SELECT, INSERT, UPDATE ON store_states TO storefleet_auditor;

-- The reaper: services/reaper/records.py.
GRANT SELECT ON store_states TO storefleet_reaper;

-- Functions run by everyone by default. The `stores` view calls store_status as the
-- reader; the trigger functions run as their trigger fires, whoever wrote the row.
REVOKE EXECUTE ON FUNCTION store_status(text, integer, integer, boolean), outbox_notify(),
    credential_notify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION store_status(text, integer, integer, boolean) TO storefleet_gateway;
