-- Fleet rollouts of engine upgrades in waves (issue 15). An administrator asks, through
-- the gateway, for every store of an engine to move to a target version; the reaper's
-- leader (services.reaper.rollouts) drives it wave by wave. Every decision the driver has
-- taken is in these rows, so a driver killed at any moment carries on where it was.
--
-- rollouts:        one row per rollout. The gateway inserts it and moves `state` between
--                  running, paused and aborted; the driver moves running to completed or
--                  stopped, and sets the rest.
--   waves:         cumulative sizes, normalised: a count ('1') or a percentage of the
--                  stores picked ('5%'); the last is always '100%'. Wave n holds the
--                  stores from the end of wave n-1 up to its size.
--   failure_threshold: a fraction from 0 to 1 of a wave's upgraded stores; when more
--                  than that share rolled back or failed, the rollout stops.
--   current_wave:  0-based; next_wave_at is when the pause after a done wave ends.
--   planned_at:    when the driver picked the stores (NULL: not yet).
--   ended_at:      when nothing more can happen (an aborted rollout once its in-flight
--                  upgrades have settled).
-- rollout_stores:  the stores a rollout picked (or skipped), written only by the driver.
--                  operation_id is uuid5(rollout id, store id): the same for every
--                  request of that store in that rollout.

CREATE TABLE rollouts (
    id                uuid PRIMARY KEY,
    engine            text NOT NULL,
    target_version    text NOT NULL,
    waves             text[] NOT NULL CHECK (cardinality(waves) BETWEEN 1 AND 20),
    max_concurrent    integer NOT NULL CHECK (max_concurrent BETWEEN 1 AND 1000),
    failure_threshold double precision NOT NULL
                      CHECK (failure_threshold >= 0 AND failure_threshold <= 1),
    pause_seconds     integer NOT NULL CHECK (pause_seconds BETWEEN 0 AND 604800),
    state             text NOT NULL DEFAULT 'running'
                      CHECK (state IN ('running', 'paused', 'completed', 'stopped', 'aborted')),
    current_wave      integer NOT NULL DEFAULT 0 CHECK (current_wave >= 0),
    next_wave_at      timestamptz,
    planned_at        timestamptz,
    ended_at          timestamptz,
    created_by        uuid NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    reason            text NOT NULL DEFAULT ''
);
-- At most one rollout of an engine under way (running or paused) at a time.
CREATE UNIQUE INDEX rollouts_one_active_per_engine ON rollouts (engine)
    WHERE state IN ('running', 'paused');
CREATE INDEX rollouts_created ON rollouts (created_at DESC);

CREATE TABLE rollout_stores (
    rollout_id   uuid NOT NULL REFERENCES rollouts (id),
    store_id     uuid NOT NULL,
    wave         integer,                           -- NULL: skipped when picked
    operation_id uuid NOT NULL,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'requested', 'completed', 'rolled_back',
                                  'failed', 'skipped')),
    from_version text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rollout_id, store_id)
);

GRANT SELECT, INSERT, UPDATE ON rollouts TO storefleet_gateway;
GRANT SELECT ON rollout_stores TO storefleet_gateway;
GRANT SELECT, UPDATE ON rollouts TO storefleet_reaper;
GRANT SELECT, INSERT, UPDATE ON rollout_stores TO storefleet_reaper;
-- The driver reads an upgrade's outcome from its events too: a refusal from a ready
-- store moves nothing in store_states. It sees only the outcomes of upgrades, never the
-- rest of the audit log.
CREATE VIEW upgrade_outcomes AS
    SELECT store_id, envelope->'data'->>'operation_id' AS operation_id, type
    FROM store_events
    WHERE type IN ('upgrade.completed', 'upgrade.rolled_back', 'upgrade.failed');
GRANT SELECT ON upgrade_outcomes TO storefleet_reaper;
