-- name: tokens_create
INSERT INTO mendb.api_tokens (name, token_hash, scope)
VALUES (%(name)s, %(token_hash)s, %(scope)s)
RETURNING *;

-- name: tokens_authenticate
SELECT * FROM mendb.api_tokens WHERE token_hash = %(token_hash)s AND revoked_at IS NULL;

-- name: tokens_list
SELECT * FROM mendb.api_tokens WHERE %(include_revoked)s OR revoked_at IS NULL ORDER BY id;

-- name: tokens_revoke
UPDATE mendb.api_tokens SET revoked_at = now()
WHERE name = %(name)s AND revoked_at IS NULL
RETURNING *;
