-- Single sign-on through OpenID Connect (issue 17, second half). The gateway
-- (services/gateway/routes_sso.py, sso_db.py) signs people in at the operator's provider.
--
-- users:        an SSO user is known by the provider's (issuer, subject), never by name:
--               a provider's user whose preferred name is a local user's gets another
--               name, and never that account. SSO users have no password (NULL: no
--               password login matches).
-- oidc_logins:  sign-ins under way, between the redirect to the provider and its
--               callback: the state's digest (the key), the digest of the browser's
--               binding cookie, the nonce and PKCE verifier to check the answer with, and
--               where to go afterwards. A callback takes its row (DELETE ... RETURNING),
--               so a state serves once; rows expire after ten minutes.

ALTER TABLE users ADD COLUMN oidc_issuer text, ADD COLUMN oidc_subject text;
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_oidc_identity
    CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL));
ALTER TABLE users ADD CONSTRAINT users_password_or_sso
    CHECK (password_hash IS NOT NULL OR oidc_subject IS NOT NULL);
CREATE UNIQUE INDEX users_oidc_identity_unique ON users (oidc_issuer, oidc_subject)
    WHERE oidc_subject IS NOT NULL;

CREATE TABLE oidc_logins (
    state_hash   text PRIMARY KEY,
    binding_hash text NOT NULL,
    nonce        text NOT NULL,
    verifier     text NOT NULL,
    next_path    text NOT NULL DEFAULT '/' CHECK (length(next_path) <= 2048),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);

GRANT SELECT, INSERT, DELETE ON oidc_logins TO storefleet_gateway;
