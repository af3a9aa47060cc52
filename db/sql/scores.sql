-- name: scores_copy_in
-- A run's scores, written by one binary COPY.
COPY mendb.scores (run_id, row_key, value, stderr, samples, rank) FROM STDIN (FORMAT BINARY);

-- name: scores_copy_out
-- (row key, value) of one run, by binary COPY.
COPY (SELECT row_key, value FROM mendb.scores WHERE run_id = %(run_id)s ORDER BY row_key)
TO STDOUT (FORMAT BINARY);

-- name: scores_list
-- The latest values of a dataset's rows (mendb.row_values), filtered, ordered and
-- paged. Orders: value (lowest first), -value (highest first), rank (by method),
-- row_key; ties fall to the row key, then the method. `converged` is null for exact
-- methods, so a filter on it keeps the runs whose checks passed or failed.
SELECT dataset, row_key, method, value, stderr, samples, rank, run_id, computed_at, stale,
       converged, convergence_warning
FROM mendb.row_values
WHERE dataset = %(dataset)s
  AND (%(method)s::text IS NULL OR method = %(method)s)
  AND (%(min_value)s::float8 IS NULL OR value >= %(min_value)s)
  AND (%(max_value)s::float8 IS NULL OR value <= %(max_value)s)
  AND (%(stale)s::boolean IS NULL OR stale = %(stale)s)
  AND (%(converged)s::boolean IS NULL OR converged IS NOT DISTINCT FROM %(converged)s)
ORDER BY CASE WHEN %(order)s = 'value' THEN value END,
         CASE WHEN %(order)s = '-value' THEN value END DESC,
         CASE WHEN %(order)s = 'rank' THEN method END,
         CASE WHEN %(order)s = 'rank' THEN rank END,
         row_key,
         method
LIMIT %(limit)s OFFSET %(offset)s;
