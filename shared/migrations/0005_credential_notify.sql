-- A NOTIFY on `storefleet_credentials`, carrying the user's id, whenever one of that
-- user's credentials stops holding: an API token revoked or deleted, a session ended
-- (logout, expiry sweep, a disable), or the user disabled, deleted or given another
-- role. Each gateway replica LISTENs and re-checks that user's open event streams at
-- once. The payload is only the user's id: never a token or a digest.

CREATE FUNCTION credential_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('storefleet_credentials', OLD.id::text);
    ELSE
        PERFORM pg_notify('storefleet_credentials', OLD.user_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_revoked AFTER UPDATE OF revoked_at ON api_tokens
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
    EXECUTE FUNCTION credential_notify();
CREATE TRIGGER api_tokens_deleted AFTER DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION credential_notify();
CREATE TRIGGER sessions_ended AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION credential_notify();
CREATE TRIGGER users_changed AFTER UPDATE OF disabled, role ON users
    FOR EACH ROW WHEN (NEW.disabled IS DISTINCT FROM OLD.disabled OR NEW.role IS DISTINCT FROM OLD.role)
    EXECUTE FUNCTION credential_notify();
CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION credential_notify();
