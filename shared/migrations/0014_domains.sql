-- Custom domains with DNS ownership verification (issue 16, first half). Two writers, one
-- table each, as with rollouts:
--
-- domain_requests: the gateway's alone. What an owner asked for: a domain (normalised:
--                  lower case, punycode, no trailing dot) for a store, with the random
--                  token its `_storefleet-challenge.<domain>` TXT record must hold;
--                  removed_at once the owner removed it (or added it again after it
--                  failed). At most one open request per store and domain.
-- domain_states:   the reaper's domain verifier's alone (services.reaper.domains). What
--                  DNS said: the state (shared.domains.DomainState), why it failed or
--                  was removed, when it was last and will next be checked. The verifier
--                  decides "verified", so the one-store-per-domain rule is its unique
--                  index: a second store's UPDATE to verified fails, however the passes
--                  interleave. `announced` is the state whose event has been published,
--                  so a verifier killed between its commit and its publish publishes on
--                  its next pass (with the same event id).
-- store_domains:   the view the gateway lists from: a request not seen by the verifier
--                  yet is pending_dns, one the owner removed is removed.

CREATE TABLE domain_requests (
    id            uuid PRIMARY KEY,
    store_id      uuid NOT NULL,
    domain        text NOT NULL CHECK (length(domain) BETWEEN 3 AND 253),
    token         text NOT NULL,
    requested_by  uuid NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    removed_at    timestamptz
);
CREATE UNIQUE INDEX domain_requests_open ON domain_requests (store_id, domain)
    WHERE removed_at IS NULL;
CREATE INDEX domain_requests_domain ON domain_requests (domain);

CREATE TABLE domain_states (
    id             uuid PRIMARY KEY REFERENCES domain_requests (id),
    store_id       uuid NOT NULL,
    domain         text NOT NULL,
    state          text NOT NULL CHECK (state IN
                   ('pending_dns', 'verified', 'issuing', 'active', 'failed', 'removed')),
    reason         text CHECK (reason IN ('dns_missing', 'expired', 'challenge_failed',
                                          'rate_limited', 'owner', 'store_deleted')),
    checks         integer NOT NULL DEFAULT 0,
    checked_at     timestamptz,
    next_check_at  timestamptz NOT NULL,
    verified_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    announced      text
);
-- One store per domain once DNS has said so: race-proof, whatever the passes do.
CREATE UNIQUE INDEX domain_states_one_store ON domain_states (domain)
    WHERE state IN ('verified', 'issuing', 'active');
CREATE INDEX domain_states_due ON domain_states (next_check_at)
    WHERE state IN ('pending_dns', 'verified');

CREATE VIEW store_domains AS
    SELECT r.id, r.store_id, r.domain, r.token, r.requested_by, r.requested_at, r.removed_at,
           CASE WHEN r.removed_at IS NOT NULL THEN 'removed'
                ELSE coalesce(s.state, 'pending_dns') END AS state,
           CASE WHEN r.removed_at IS NOT NULL THEN 'owner' ELSE s.reason END AS reason,
           s.checked_at, s.verified_at, s.next_check_at
    FROM domain_requests r LEFT JOIN domain_states s ON s.id = r.id;

GRANT SELECT, INSERT, UPDATE ON domain_requests TO storefleet_gateway;
GRANT SELECT ON domain_states, store_domains TO storefleet_gateway;
GRANT SELECT ON domain_requests TO storefleet_reaper;
GRANT SELECT, INSERT, UPDATE ON domain_states TO storefleet_reaper;
