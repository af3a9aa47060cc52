-- The service: mendb.runs as a job queue (leases, attempts, cancellation), the SQL
-- function that requests a job, API tokens, and continuous mode (changed rows are
-- recorded and shown as stale in mendb.row_values).

ALTER TABLE mendb.runs
    ADD COLUMN worker_id        text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0,
    ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN requested_by     text NOT NULL DEFAULT mendb.actor();

CREATE INDEX runs_queued ON mendb.runs (id) WHERE status = 'queued';
CREATE INDEX runs_leases ON mendb.runs (lease_expires_at) WHERE status = 'running';

-- Every queued run wakes the workers, however it was inserted.
CREATE FUNCTION mendb.notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mendb_jobs', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_notify_insert AFTER INSERT ON mendb.runs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION mendb.notify_job();
CREATE TRIGGER runs_notify_requeue AFTER UPDATE OF status ON mendb.runs
    FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status <> 'queued')
    EXECUTE FUNCTION mendb.notify_job();

-- Request a job from SQL; returns the run id. For 'value', params->>'method' names
-- the method (default knn_shapley) and the other keys are its parameters.
--   select mendb.request('value', 'demo', '{"method": "knn_shapley", "k": 5}');
CREATE FUNCTION mendb.request(kind text, dataset text, params jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    run_id bigint;
BEGIN
    IF request.kind IS NULL OR request.kind NOT IN ('value', 'propose', 'apply', 'revert') THEN
        RAISE EXCEPTION 'mendb.request: kind % is not one of value, propose, apply, revert',
            quote_nullable(request.kind) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM mendb.datasets d WHERE d.name = request.dataset) THEN
        RAISE EXCEPTION 'mendb.request: no dataset named % is registered',
            quote_nullable(request.dataset) USING ERRCODE = 'no_data_found';
    END IF;
    IF jsonb_typeof(coalesce(request.params, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'mendb.request: params must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mendb.runs AS r (dataset, kind, method, params, status)
    VALUES (
        request.dataset,
        request.kind,
        CASE WHEN request.kind = 'value'
             THEN coalesce(request.params ->> 'method', 'knn_shapley')
             ELSE request.params ->> 'method' END,
        coalesce(request.params, '{}') - 'method',
        'queued'
    )
    RETURNING r.id INTO run_id;
    RETURN run_id;
END
$$;

-- Progress of every job, with an estimate of the time left.
CREATE VIEW mendb.jobs_status AS
SELECT id, dataset, kind, method, status, progress,
       CASE WHEN status = 'running' AND progress > 0
            THEN (clock_timestamp() - started_at) / progress * (1 - progress) END AS eta,
       attempts, worker_id, lease_expires_at, cancel_requested, requested_by, error,
       created_at, started_at, finished_at
FROM mendb.runs;

CREATE TABLE mendb.api_tokens (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$'),
    token_hash  text NOT NULL UNIQUE,
    scope       text NOT NULL CHECK (scope IN ('read', 'review', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT mendb.actor(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX api_tokens_active_name ON mendb.api_tokens (name) WHERE revoked_at IS NULL;

-- Keys of rows changed in a registered table since it was registered; one row per
-- key, with the time of its latest change. db/changes.py attaches the trigger.
CREATE TABLE mendb.row_changes (
    dataset     text NOT NULL REFERENCES mendb.datasets (name) ON DELETE CASCADE,
    row_key     text NOT NULL,
    operation   text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, row_key)
);
CREATE INDEX row_changes_recent ON mendb.row_changes (dataset, changed_at);

-- Trigger arguments: the dataset name and the key column.
CREATE FUNCTION mendb.record_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        keys := ARRAY[to_jsonb(NEW) ->> TG_ARGV[1]];
    ELSIF TG_OP = 'DELETE' THEN
        keys := ARRAY[to_jsonb(OLD) ->> TG_ARGV[1]];
    ELSE
        keys := ARRAY[to_jsonb(OLD) ->> TG_ARGV[1], to_jsonb(NEW) ->> TG_ARGV[1]];
    END IF;
    INSERT INTO mendb.row_changes AS c (dataset, row_key, operation)
    SELECT DISTINCT TG_ARGV[0], k, TG_OP FROM unnest(keys) AS k WHERE k IS NOT NULL
    ON CONFLICT (dataset, row_key)
    DO UPDATE SET operation = EXCLUDED.operation, changed_at = EXCLUDED.changed_at;
    RETURN NULL;
END
$$;

-- The latest finished valuation of each dataset and method, one row per training
-- row; `stale` when the row changed after the run started reading.
CREATE OR REPLACE VIEW mendb.row_values AS
WITH latest AS (
    SELECT DISTINCT ON (dataset, method) id, dataset, method, started_at, finished_at
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
       ) AS stale
FROM latest
JOIN mendb.scores ON scores.run_id = latest.id;
