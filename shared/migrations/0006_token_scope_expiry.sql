-- API tokens get a scope and an expiry (issue 19). A `read` token may only GET; a `full`
-- token may do whatever its user may (but never mint tokens: only a session may). A token
-- past `expires_at` authenticates nobody. Tokens made before this migration keep working
-- as they did: full scope, no expiry, until their owner revokes them.

ALTER TABLE api_tokens
    ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('read', 'full')),
    ADD COLUMN expires_at timestamptz;
