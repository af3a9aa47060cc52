-- name: jobs_request
-- Queue a job through mendb.request, as a psql user would.
SELECT mendb.request(%(kind)s, %(dataset)s, %(params)s);

-- name: jobs_listen
LISTEN {channel};

-- name: jobs_claim
-- Take the oldest queued job; a job locked by another worker's claim is skipped.
UPDATE mendb.runs
SET status = 'running', worker_id = %(worker_id)s, attempts = attempts + 1,
    lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s),
    started_at = clock_timestamp(), progress = 0, error = NULL
WHERE id = (SELECT id FROM mendb.runs WHERE status = 'queued'
            ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING *;

-- name: jobs_renew
-- Extend the lease of a running job this worker holds; says whether to cancel.
UPDATE mendb.runs
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
WHERE id = %(run_id)s AND worker_id = %(worker_id)s AND status = 'running'
RETURNING cancel_requested;

-- name: jobs_hold
SELECT status, worker_id, cancel_requested FROM mendb.runs WHERE id = %(run_id)s FOR UPDATE;

-- name: jobs_finish
UPDATE mendb.runs
SET status = 'done', progress = 1, metrics = %(metrics)s, finished_at = clock_timestamp(),
    lease_expires_at = NULL
WHERE id = %(run_id)s;

-- name: jobs_end
-- Mark the job failed or cancelled, if this worker still holds it.
UPDATE mendb.runs
SET status = %(status)s, error = %(error)s, finished_at = clock_timestamp(),
    lease_expires_at = NULL
WHERE id = %(run_id)s AND worker_id = %(worker_id)s AND status = 'running'
RETURNING id;

-- name: jobs_fail_exhausted
-- Running jobs whose lease ran out and that used up their attempts fail.
UPDATE mendb.runs
SET status = 'failed', finished_at = clock_timestamp(),
    error = format('the worker was lost %%s times (lease expired)', attempts)
WHERE status = 'running' AND lease_expires_at < clock_timestamp()
  AND attempts >= %(max_attempts)s;

-- name: jobs_requeue_expired
UPDATE mendb.runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL
WHERE id IN (SELECT id FROM mendb.runs WHERE status = 'running'
             AND lease_expires_at < clock_timestamp() FOR UPDATE SKIP LOCKED)
RETURNING id;

-- name: jobs_cancel
-- Cancel a queued job at once, or ask the worker of a running one to stop.
UPDATE mendb.runs
SET cancel_requested = true,
    status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
    finished_at = CASE WHEN status = 'queued' THEN clock_timestamp() ELSE finished_at END
WHERE id = %(run_id)s
RETURNING status;

-- name: jobs_status
-- A run with its estimated time left while it runs.
SELECT r.*, extract(epoch FROM s.eta)::float8 AS eta_seconds
FROM mendb.runs r JOIN mendb.jobs_status s USING (id)
WHERE r.id = %(run_id)s;

-- name: jobs_list
-- Runs, newest first, of a dataset and of some statuses when given.
SELECT r.*, extract(epoch FROM s.eta)::float8 AS eta_seconds
FROM mendb.runs r JOIN mendb.jobs_status s USING (id)
WHERE (%(dataset)s::text IS NULL OR r.dataset = %(dataset)s)
  AND (%(statuses)s::text[] IS NULL OR r.status = ANY(%(statuses)s))
ORDER BY r.id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: jobs_worker_beat
-- A worker is alive (and carries out this run); its first beat registers it.
INSERT INTO mendb.workers AS w (id, host, pid, beat_seconds, run_id)
VALUES (%(worker_id)s, %(host)s, %(pid)s, %(beat_seconds)s, %(run_id)s)
ON CONFLICT (id) DO UPDATE
SET heartbeat_at = clock_timestamp(), run_id = EXCLUDED.run_id, stopped_at = NULL;

-- name: jobs_worker_stopped
UPDATE mendb.workers SET stopped_at = clock_timestamp(), run_id = NULL WHERE id = %(worker_id)s;

-- name: jobs_service_health
-- The workers heard from within `missed_beats` of their beats, the latest heartbeat
-- of any, and the queue.
SELECT
    (SELECT count(*) FROM mendb.workers WHERE stopped_at IS NULL AND heartbeat_at
        > clock_timestamp() - make_interval(secs => %(missed_beats)s * beat_seconds))
        AS workers_alive,
    (SELECT max(heartbeat_at) FROM mendb.workers) AS last_heartbeat,
    (SELECT count(*) FROM mendb.runs WHERE status = 'queued') AS queued,
    (SELECT extract(epoch FROM clock_timestamp() - min(created_at))::float8
        FROM mendb.runs WHERE status = 'queued') AS oldest_queued_seconds;
