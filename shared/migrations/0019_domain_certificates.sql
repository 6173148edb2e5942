-- Custom domains, the certificate half (issue 16). The reaper's domain verifier now also
-- serves verified domains (services.reaper.domain_issuer): it applies each one's
-- Certificate and Ingress, follows the Certificate to `active` or `failed`, and removes
-- the objects of a domain that ended. Its own table still, so only it writes these:
--
-- issuing_at  when its certificate was asked for: the CA throttle counts the orders
--             started in the last hour from it, and an issuance that runs too long fails.
-- not_after   the served certificate's expiry, for the expiry alert.
-- served      the domain's objects are in its store's namespace (applied, not yet
--             removed): a failed or removed domain with `served` still has objects to
--             delete.
-- paused      its Ingress sends the domain to the platform's "store paused" page, as the
--             store's own does while it is suspended.
ALTER TABLE domain_states
    ADD COLUMN issuing_at timestamptz,
    ADD COLUMN not_after timestamptz,
    ADD COLUMN served boolean NOT NULL DEFAULT false,
    ADD COLUMN paused boolean NOT NULL DEFAULT false;

-- Verified, issuing and active domains all have their TXT record re-checked daily.
DROP INDEX domain_states_due;
CREATE INDEX domain_states_due ON domain_states (next_check_at)
    WHERE state IN ('pending_dns', 'verified', 'issuing', 'active');
CREATE INDEX domain_states_queue ON domain_states (verified_at)
    WHERE state = 'verified';
CREATE INDEX domain_states_unserve ON domain_states (store_id)
    WHERE served AND state IN ('failed', 'removed');

CREATE OR REPLACE VIEW store_domains AS
    SELECT r.id, r.store_id, r.domain, r.token, r.requested_by, r.requested_at, r.removed_at,
           CASE WHEN r.removed_at IS NOT NULL THEN 'removed'
                ELSE coalesce(s.state, 'pending_dns') END AS state,
           CASE WHEN r.removed_at IS NOT NULL THEN 'owner' ELSE s.reason END AS reason,
           s.checked_at, s.verified_at, s.next_check_at, s.issuing_at, s.not_after
    FROM domain_requests r LEFT JOIN domain_states s ON s.id = r.id;
