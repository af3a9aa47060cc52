-- name: ui_runs_loops
-- The review page's rounds: a dataset's loops, newest first, with how many rounds
-- each wrote (a run that only asked to resume a loop is not one).
SELECT r.id, r.status, r.progress, r.created_at, r.started_at, r.finished_at,
       (SELECT count(*) FROM mendb.rounds o WHERE o.loop_id = r.id) AS rounds
FROM mendb.runs r
WHERE r.dataset = %(dataset)s AND r.kind = 'loop' AND NOT r.diagnostics ? 'resumes_loop'
ORDER BY r.id DESC
LIMIT %(limit)s;

-- name: ui_runs_progress
-- What the run page's poller shows: the run's status, progress and time left.
SELECT r.id, r.status, r.progress, r.cancel_requested, r.started_at, r.finished_at,
       extract(epoch FROM s.eta)::float8 AS eta_seconds
FROM mendb.runs r JOIN mendb.jobs_status s USING (id)
WHERE r.id = %(run_id)s;
