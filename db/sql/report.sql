-- name: report_methods
-- The methods a dataset has finished values of.
SELECT DISTINCT method FROM mendb.row_values WHERE dataset = %(dataset)s ORDER BY 1;

-- name: report_repair_counts
-- How many repairs of each kind are in each status.
SELECT kind, status, count(*)
FROM mendb.repairs
WHERE dataset = %(dataset)s
GROUP BY kind, status
ORDER BY 1, 2;

-- name: report_export_scores
-- A dataset's latest scores, every method, for a file a notebook reads.
SELECT row_key, method, value, stderr, samples, rank, run_id, computed_at
FROM mendb.row_values
WHERE dataset = %(dataset)s
ORDER BY method, rank;

-- name: report_export_repairs
-- A dataset's repairs, for the file beside its scores.
SELECT id, run_id, row_key, column_name, old_value, new_value, kind, repairer, confidence,
       evidence::text AS evidence, status, created_at, status_at, status_by, applied_txid,
       reverted_txid
FROM mendb.repairs
WHERE dataset = %(dataset)s
ORDER BY id;
