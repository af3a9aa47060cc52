-- mendb's schema: registered datasets, valuation runs, per-row scores and the
-- audit table of repairs. Applied by db/migrate.py inside one transaction with its
-- record in mendb.schema_migrations; psql can run it as it is.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE mendb.datasets (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z][A-Za-z0-9_-]{0,62}$'),
    table_schema  text NOT NULL,
    table_name    text NOT NULL,
    key_column    text NOT NULL,
    label_column  text NOT NULL,
    -- [{"name": "...", "kind": "numeric|categorical|vector|text", "type": "...", "dim": n}]
    features      jsonb NOT NULL,
    -- {"method": "hash", "validation_fraction": .2, "test_fraction": .2, "seed": 0}
    -- or {"method": "table", "validation_table": "schema.table", "seed": 0}
    split         jsonb NOT NULL,
    task          text NOT NULL DEFAULT 'classification' CHECK (task IN ('classification')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mendb.runs (
    id           bigserial PRIMARY KEY,
    dataset      text NOT NULL REFERENCES mendb.datasets (name) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('value', 'propose', 'apply', 'revert', 'loop')),
    method       text,
    params       jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress     double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    rows_read    bigint,
    fingerprint  text,
    metrics      jsonb NOT NULL DEFAULT '{}',
    diagnostics  jsonb NOT NULL DEFAULT '{}',
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX runs_dataset_kind ON mendb.runs (dataset, kind, status, finished_at DESC);

CREATE TABLE mendb.scores (
    run_id   bigint NOT NULL REFERENCES mendb.runs (id) ON DELETE CASCADE,
    row_key  text NOT NULL,
    value    double precision NOT NULL,
    stderr   double precision NOT NULL DEFAULT 0,
    samples  bigint NOT NULL DEFAULT 1,
    rank     integer NOT NULL,
    PRIMARY KEY (run_id, row_key)
);

-- The latest finished valuation of each dataset and method, one row per training row.
CREATE VIEW mendb.row_values AS
WITH latest AS (
    SELECT DISTINCT ON (dataset, method) id, dataset, method, finished_at
    FROM mendb.runs
    WHERE kind = 'value' AND status = 'done'
    ORDER BY dataset, method, finished_at DESC, id DESC
)
SELECT latest.dataset, scores.row_key, latest.method, scores.value, scores.stderr,
       scores.samples, scores.rank, latest.id AS run_id, latest.finished_at AS computed_at
FROM latest
JOIN mendb.scores ON scores.run_id = latest.id;

CREATE TABLE mendb.repairs (
    id            bigserial PRIMARY KEY,
    dataset       text NOT NULL REFERENCES mendb.datasets (name) ON DELETE CASCADE,
    run_id        bigint REFERENCES mendb.runs (id) ON DELETE SET NULL,
    row_key       text NOT NULL,
    column_name   text NOT NULL,
    -- Values in PostgreSQL's text form of the column's type, so they round-trip exactly.
    old_value     text,
    new_value     text,
    kind          text NOT NULL CHECK (kind IN ('label', 'numeric', 'missing', 'vector', 'text')),
    repairer      text NOT NULL,
    confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    evidence      jsonb NOT NULL DEFAULT '{}',
    verification  jsonb,
    status        text NOT NULL DEFAULT 'proposed'
                  CHECK (status IN ('proposed', 'accepted', 'rejected', 'applied', 'reverted', 'stale')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL DEFAULT coalesce(nullif(current_setting('mendb.actor', true), ''), current_user),
    status_at     timestamptz NOT NULL DEFAULT now(),
    status_by     text NOT NULL DEFAULT coalesce(nullif(current_setting('mendb.actor', true), ''), current_user),
    applied_txid  bigint,
    reverted_txid bigint
);
CREATE INDEX repairs_dataset_status ON mendb.repairs (dataset, status, id);

-- Every change of a repair's status, with who, when and in which transaction; kept
-- by a trigger so that a plain UPDATE in psql is recorded too.
CREATE TABLE mendb.repair_events (
    id          bigserial PRIMARY KEY,
    repair_id   bigint NOT NULL REFERENCES mendb.repairs (id) ON DELETE CASCADE,
    old_status  text,
    new_status  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text NOT NULL,
    txid        bigint NOT NULL DEFAULT txid_current()
);

CREATE FUNCTION mendb.actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('mendb.actor', true), ''), current_user)
$$;

CREATE FUNCTION mendb.record_repair_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_at := now();
        NEW.status_by := mendb.actor();
        INSERT INTO mendb.repair_events (repair_id, old_status, new_status, changed_by)
        VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status, NEW.status_by);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER repairs_status_insert AFTER INSERT ON mendb.repairs
    FOR EACH ROW EXECUTE FUNCTION mendb.record_repair_status();
CREATE TRIGGER repairs_status_update BEFORE UPDATE OF status ON mendb.repairs
    FOR EACH ROW EXECUTE FUNCTION mendb.record_repair_status();

-- Which split a row belongs to: a deterministic hash of (seed, key) mapped to [0, 1).
CREATE FUNCTION mendb.split_unit(seed integer, row_key text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('x' || substr(md5(seed::text || ':' || row_key), 1, 8))::bit(32)::bigint / 4294967296.0
$$;
