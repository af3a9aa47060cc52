-- name: ui_session_create
-- A browser session for a token: only the hash of its id is kept.
INSERT INTO mendb.ui_sessions (id_hash, token_id, csrf_secret, expires_at)
VALUES (%(id_hash)s, %(token_id)s, %(csrf_secret)s, now() + make_interval(secs => %(seconds)s));

-- name: ui_session_find
-- The session's token, while both the session and the token are live: revoking the
-- token ends its sessions.
SELECT t.id, t.name, t.scope, t.created_at, t.created_by, t.revoked_at, s.csrf_secret
FROM mendb.ui_sessions s
JOIN mendb.api_tokens t ON t.id = s.token_id
WHERE s.id_hash = %(id_hash)s AND s.expires_at > now() AND t.revoked_at IS NULL;

-- name: ui_session_delete
-- Log out: the session ends now.
DELETE FROM mendb.ui_sessions WHERE id_hash = %(id_hash)s;

-- name: ui_sessions_purge
-- Sessions past their expiry, cleared when someone logs in.
DELETE FROM mendb.ui_sessions WHERE expires_at <= now();

-- name: ui_datasets
-- The datasets page: each dataset with its size (the latest finished run's rows read,
-- else the planner's estimate), its task, its latest run, its open proposals and
-- its loop rounds.
SELECT d.name, d.task, d.table_schema, d.table_name, d.label_column,
       coalesce(last_done.rows_read,
                nullif((SELECT c.reltuples FROM pg_catalog.pg_class c
                        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = d.table_schema AND c.relname = d.table_name),
                       -1)::bigint) AS row_count,
       last_run.id AS last_run_id, last_run.kind AS last_run_kind,
       last_run.status AS last_run_status, last_run.created_at AS last_run_at,
       (SELECT count(*) FROM mendb.repairs r
        WHERE r.dataset = d.name AND r.status = 'proposed') AS open_proposals,
       (SELECT count(*) FROM mendb.rounds o WHERE o.dataset = d.name) AS rounds
FROM mendb.datasets d
LEFT JOIN LATERAL (
    SELECT id, kind, status, created_at FROM mendb.runs
    WHERE dataset = d.name ORDER BY id DESC LIMIT 1
) last_run ON true
LEFT JOIN LATERAL (
    SELECT rows_read FROM mendb.runs
    WHERE dataset = d.name AND status = 'done' AND rows_read IS NOT NULL
    ORDER BY id DESC LIMIT 1
) last_done ON true
ORDER BY d.name;

-- name: ui_proposals_by_confidence
-- One page of a dataset's repairs, most confident first (each filter applies when
-- given); the index on (dataset, confidence DESC, id) keeps deep pages cheap.
SELECT id, row_key, column_name, old_value, new_value, kind, repairer, confidence,
       verification->>'verdict' AS verdict, status, status_by, status_at
FROM mendb.repairs
WHERE dataset = %(dataset)s
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(column)s::text IS NULL OR column_name = %(column)s)
  AND (%(min_confidence)s::float8 IS NULL OR confidence >= %(min_confidence)s)
ORDER BY confidence DESC, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: ui_proposals_by_id
-- The same page in the order the proposals were made.
-- Deliberately like ui_proposals_by_confidence: a fixed ORDER BY per statement lets
-- each use its index, which an ORDER BY CASE would not.
SELECT id, row_key, column_name, old_value, new_value, kind, repairer, confidence,
       verification->>'verdict' AS verdict, status, status_by, status_at
FROM mendb.repairs
WHERE dataset = %(dataset)s
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(column)s::text IS NULL OR column_name = %(column)s)
  AND (%(min_confidence)s::float8 IS NULL OR confidence >= %(min_confidence)s)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: ui_proposals_count
-- How many repairs the same filters match, for the pager.
SELECT count(*)
FROM mendb.repairs
WHERE dataset = %(dataset)s
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(column)s::text IS NULL OR column_name = %(column)s)
  AND (%(min_confidence)s::float8 IS NULL OR confidence >= %(min_confidence)s);

-- name: ui_proposal_columns
-- The columns a dataset's repairs touch, for the filter's choices.
SELECT DISTINCT column_name FROM mendb.repairs WHERE dataset = %(dataset)s ORDER BY 1;

-- name: ui_proposal
-- One repair, everything the audit table holds about it.
SELECT id, dataset, run_id, row_key, column_name, old_value, new_value, kind, repairer,
       confidence, evidence, verification, status, created_at, created_by, status_at,
       status_by, applied_txid, reverted_txid
FROM mendb.repairs WHERE id = %(repair_id)s;

-- name: ui_proposal_neighbours
-- The previous and next repair in the listing's default order, for j / k.
SELECT (SELECT id FROM mendb.repairs
        WHERE dataset = %(dataset)s AND (confidence, -id) > (%(confidence)s, -%(repair_id)s)
        ORDER BY confidence, id DESC LIMIT 1) AS previous_id,
       (SELECT id FROM mendb.repairs
        WHERE dataset = %(dataset)s AND (confidence, -id) < (%(confidence)s, -%(repair_id)s)
        ORDER BY confidence DESC, id LIMIT 1) AS next_id;

-- name: ui_cell_history
-- The cell's value across runs: every repair proposed for it, with its run and
-- what became of it.
SELECT r.id, r.run_id, u.kind AS run_kind, u.method AS run_method, r.old_value,
       r.new_value, r.status, r.status_by, r.status_at
FROM mendb.repairs r
LEFT JOIN mendb.runs u ON u.id = r.run_id
WHERE r.dataset = %(dataset)s AND r.row_key = %(row_key)s AND r.column_name = %(column)s
ORDER BY r.id;

-- name: ui_row_scores
-- The row's value under each valuation run, newest first.
SELECT s.run_id, u.method, s.value, s.rank, u.finished_at
FROM mendb.scores s
JOIN mendb.runs u ON u.id = s.run_id
WHERE u.dataset = %(dataset)s AND s.row_key = %(row_key)s AND u.status = 'done'
ORDER BY s.run_id DESC
LIMIT 20;

-- name: ui_numeric_percentile
-- Where a number falls in its column: the share of the table's values below it, and
-- how many values there are. {table} and {column} are checked identifiers.
SELECT (count(*) FILTER (WHERE {column}::float8 < %(value)s::float8))::float8
           / nullif(count({column}), 0) AS percentile,
       count({column}) AS n,
       min({column}::float8) AS low, max({column}::float8) AS high
FROM {table};
