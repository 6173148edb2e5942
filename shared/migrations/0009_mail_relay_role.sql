-- The mail relay's own role (services/mailrelay, issue 19): it reads whether a store is
-- still live, through the `stores` view (which calls store_status as the reader), and
-- nothing else. Made only when missing, as 0007 makes the others.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'storefleet_mailrelay') THEN
        BEGIN
            CREATE ROLE storefleet_mailrelay NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration made it meanwhile
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO storefleet_mailrelay', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO storefleet_mailrelay;
GRANT SELECT ON stores TO storefleet_mailrelay;
GRANT EXECUTE ON FUNCTION store_status(text, integer, integer, boolean) TO storefleet_mailrelay;
