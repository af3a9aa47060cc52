-- Sessions of the review page in the browser (/ui). A person pastes an API token
-- once and gets a cookie naming a session; only a SHA-256 hash of the session's id
-- is stored, as with tokens. A session acts for its token: revoking the token, or
-- deleting it, ends every session it opened, because each request joins the token
-- and checks that it is still active.
CREATE TABLE mendb.ui_sessions (
    id_hash     text PRIMARY KEY,
    token_id    bigint NOT NULL REFERENCES mendb.api_tokens (id) ON DELETE CASCADE,
    -- The secret every state-changing form carries back (CSRF); never sent in a URL.
    csrf_secret text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX ui_sessions_token ON mendb.ui_sessions (token_id);
CREATE INDEX ui_sessions_expiry ON mendb.ui_sessions (expires_at);

-- The proposals page sorts and pages a dataset's repairs by confidence; this keeps
-- that order an index scan at any size.
CREATE INDEX repairs_dataset_confidence ON mendb.repairs (dataset, confidence DESC, id);
