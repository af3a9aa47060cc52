-- name: create_run
-- A new valuation, proposal or apply job; a running one starts its clock now.
INSERT INTO mendb.runs (dataset, kind, method, params, status, started_at)
VALUES (%(dataset)s, %(kind)s, %(method)s, %(params)s, %(status)s,
        CASE WHEN %(status)s = 'running' THEN now() END)
RETURNING id;

-- name: set_run_progress
UPDATE mendb.runs SET progress = %(progress)s WHERE id = %(run_id)s;

-- name: set_run_params
UPDATE mendb.runs SET params = %(params)s WHERE id = %(run_id)s;

-- name: finish_run
-- A run is done: its metrics, its diagnostics, and what it read when known.
UPDATE mendb.runs
SET status = 'done', progress = 1, finished_at = clock_timestamp(),
    metrics = %(metrics)s, diagnostics = %(diagnostics)s,
    rows_read = coalesce(%(rows_read)s, rows_read),
    fingerprint = coalesce(%(fingerprint)s, fingerprint)
WHERE id = %(run_id)s;

-- name: fail_run
UPDATE mendb.runs SET status = 'failed', error = %(error)s, finished_at = clock_timestamp()
WHERE id = %(run_id)s;

-- name: get_run
SELECT * FROM mendb.runs WHERE id = %(run_id)s;

-- name: latest_value_run
-- The newest finished valuation of a dataset, of one method when given.
SELECT * FROM mendb.runs
WHERE dataset = %(dataset)s AND kind = 'value' AND status = 'done'
  AND (%(method)s::text IS NULL OR method = %(method)s)
ORDER BY finished_at DESC, id DESC
LIMIT 1;

-- name: add_run_diagnostics
UPDATE mendb.runs SET diagnostics = diagnostics || %(extra)s WHERE id = %(run_id)s;

-- name: dataset_value_methods
-- The methods a consensus can combine: those with a finished valuation of the dataset.
SELECT DISTINCT method FROM mendb.row_values
WHERE dataset = %(dataset)s AND method <> 'consensus'
ORDER BY 1;
