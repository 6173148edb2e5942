-- A store's primary domain (issue 16, the last part): the custom domain its engine takes
-- as its own address (WordPress's home and siteurl, Medusa's STORE_URL and CORS), while
-- the store's own Ingress stays at <slug>.<base domain>. One writer per table still:
--
-- store_primary_domains: the gateway's alone. What the owner chose: one of the store's
--                  domains (active when chosen), or NULL for the platform host, and the
--                  operation that asked for it (`domain.primary`; `url.changed` or
--                  `url.failed` names it when the provisioner is done).
-- domain_states.primary_released: the reaper's verifier's. Set once it has published the
--                  `domain.primary` that sends a store back to its platform host because
--                  the domain chosen as its primary ended (failed, removed by its owner,
--                  unlinked by the TXT re-check), so that event goes out once per domain.
-- store_primary:   the view the gateway shows: the chosen domain while it is active. A
--                  domain that ended is no store's primary, whatever the choice says.
-- store_operations: a change of primary is an operation (kind 'primary'), so no suspend,
--                  resume, plan change or other change of primary runs beside it.

CREATE TABLE store_primary_domains (
    store_id      uuid PRIMARY KEY,
    domain_id     uuid REFERENCES domain_requests (id),   -- NULL: the platform host
    operation_id  uuid NOT NULL,
    requested_by  uuid NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE domain_states ADD COLUMN primary_released boolean NOT NULL DEFAULT false;

ALTER TABLE store_operations DROP CONSTRAINT IF EXISTS store_operations_kind_check;
ALTER TABLE store_operations ADD CONSTRAINT store_operations_kind_check
    CHECK (kind IN ('suspend', 'resume', 'plan', 'primary'));

CREATE VIEW store_primary AS
    SELECT p.store_id, d.id AS domain_id, d.domain, d.not_after
    FROM store_primary_domains p JOIN store_domains d ON d.id = p.domain_id
    WHERE d.state = 'active';

GRANT SELECT, INSERT, UPDATE ON store_primary_domains TO storefleet_gateway;
GRANT SELECT ON store_primary TO storefleet_gateway;
GRANT SELECT ON store_primary_domains TO storefleet_reaper;
