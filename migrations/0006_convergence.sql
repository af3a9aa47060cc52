-- Whether each run's values can be trusted: a Monte Carlo run records in
-- diagnostics->'convergence' whether its own checks (R-hat across chains, the
-- stopping criteria it asked for, rows never sampled) passed. mendb.row_values
-- shows it beside every value, so an unconverged estimate is never read unflagged.
-- `converged` is null for exact methods and for runs that could not check it.

CREATE OR REPLACE VIEW mendb.row_values AS
WITH latest AS (
    SELECT DISTINCT ON (dataset, method) id, dataset, method, started_at, finished_at,
           diagnostics
    FROM mendb.runs
    WHERE kind = 'value' AND status = 'done'
    ORDER BY dataset, method, finished_at DESC, id DESC
)
SELECT latest.dataset, scores.row_key, latest.method, scores.value, scores.stderr,
       scores.samples, scores.rank, latest.id AS run_id, latest.finished_at AS computed_at,
       EXISTS (
           SELECT 1 FROM mendb.row_changes c
           WHERE c.dataset = latest.dataset AND c.row_key = scores.row_key
             AND c.changed_at >= coalesce(latest.started_at, latest.finished_at)
       ) AS stale,
       (latest.diagnostics -> 'convergence' ->> 'converged')::boolean AS converged,
       latest.diagnostics -> 'convergence' ->> 'warning' AS convergence_warning
FROM latest
JOIN mendb.scores ON scores.run_id = latest.id;
