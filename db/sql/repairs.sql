-- name: repairs_set_actor
-- Who is acting, for the rest of the current transaction (the audit trigger reads it).
SELECT set_config('mendb.actor', %(actor)s, true);

-- name: repairs_insert
-- A proposal, written with status 'proposed'.
INSERT INTO mendb.repairs (dataset, run_id, row_key, column_name, old_value, new_value, kind,
                           repairer, confidence, evidence, verification)
VALUES (%(dataset)s, %(run_id)s, %(row_key)s, %(column_name)s, %(old_value)s, %(new_value)s,
        %(kind)s, %(repairer)s, %(confidence)s, %(evidence)s::jsonb, %(verification)s::jsonb)
RETURNING id;

-- name: repairs_list
-- The audit table filtered (each filter applies when given), ordered by id or by
-- confidence, highest first, and paged.
SELECT id, dataset, run_id, row_key, column_name, old_value, new_value, kind, repairer,
       confidence, evidence, verification, status, created_at, created_by, status_at,
       status_by, applied_txid, reverted_txid
FROM mendb.repairs
WHERE (%(dataset)s::text IS NULL OR dataset = %(dataset)s)
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s))
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
  AND (%(min_confidence)s::float8 IS NULL OR confidence >= %(min_confidence)s)
ORDER BY CASE WHEN %(order)s::text = 'confidence' THEN confidence END DESC, id
LIMIT %(limit)s::bigint OFFSET %(offset)s::bigint;

-- name: repairs_review
-- Accept or reject: by id (any not yet applied), or every proposed one above a
-- confidence or verified to improve the validation utility.
UPDATE mendb.repairs SET status = %(decision)s
WHERE status = ANY(%(reviewable)s::text[]) AND status <> %(decision)s
  AND (%(dataset)s::text IS NULL OR dataset = %(dataset)s)
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
  AND (%(min_confidence)s::float8 IS NULL OR confidence >= %(min_confidence)s)
  AND (%(ids)s::bigint[] IS NOT NULL OR status = 'proposed')
  AND (NOT %(verified_only)s OR verification->>'verdict' = 'improves')
RETURNING id;

-- name: repairs_summary
SELECT status, count(*) FROM mendb.repairs WHERE dataset = %(dataset)s GROUP BY status;

-- name: repairs_values_before
-- Row key -> the value a column held before its first repair still applied.
SELECT DISTINCT ON (row_key) row_key, old_value FROM mendb.repairs
WHERE dataset = %(dataset)s AND column_name = %(column)s AND status = 'applied'
ORDER BY row_key, id;

-- name: repairs_set_session_actor
-- Who is acting, for the rest of the session: a worker acts for a job's requester.
SELECT set_config('mendb.actor', %(actor)s, false);
