-- Backups (issue 14). `backups` is the auditor's alone, like store_states: it folds the
-- `backup.*` events into one row per backup (services/auditor/backups.py). The gateway
-- lists a store's backups from it; the reaper's leader reads it to schedule, verify and
-- expire them.
--
-- A store being restored is `restoring` (shared.lifecycle); `restore_id` names the
-- restore its status refers to, so a late `restore.started` never reopens one that has
-- ended. A clone remembers the backup it starts from, so a retry clones it again.

CREATE TABLE backups (
    id              uuid PRIMARY KEY,
    store_id        uuid NOT NULL,
    reason          text,              -- scheduled, on_demand, pre_restore, pre_upgrade
    requested_by    text,
    status          text NOT NULL,     -- requested, running, completed, verified, failed, deleted
    status_seq      bigint NOT NULL,   -- the stream sequence of the event that set status
    requested_at    timestamptz,
    started_at      timestamptz,
    completed_at    timestamptz,
    verified_at     timestamptz,
    deleted_at      timestamptz,
    updated_at      timestamptz NOT NULL,
    attempt         integer NOT NULL DEFAULT 0,
    engine          text,
    engine_version  text,
    plan            text,
    size_bytes      bigint,
    objects         jsonb,             -- name -> {size, sha256}, as read back
    manifest        text,              -- object key of the manifest, written last
    seconds         double precision,  -- dump and upload
    orders          integer,           -- the verification's order count
    verify_seconds  double precision,
    error           text,
    last_event_seq  bigint NOT NULL
);
CREATE INDEX backups_store_requested ON backups (store_id, requested_at DESC);
CREATE INDEX backups_status_updated ON backups (status, updated_at);

ALTER TABLE store_states ADD COLUMN restore_id uuid;
ALTER TABLE store_requests ADD COLUMN from_store_id uuid, ADD COLUMN from_backup_id uuid;

GRANT SELECT, INSERT, UPDATE ON backups TO storefleet_auditor;
GRANT SELECT ON backups TO storefleet_gateway, storefleet_reaper;
