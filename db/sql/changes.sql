-- name: changes_attach_trigger
-- Record each inserted, updated or deleted key of the dataset's table.
CREATE OR REPLACE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION mendb.record_row_change({dataset}, {key});

-- name: changes_datasets_with_tables
-- The registered datasets whose table still exists.
SELECT name, table_schema, table_name, key_column FROM mendb.datasets
WHERE to_regclass(format('%%I.%%I', table_schema, table_name)) IS NOT NULL
ORDER BY name;

-- name: changes_stale_counts
-- Per dataset with a finished valuation of a method: the rows changed since that run
-- started, whether a valuation is queued or running, and the run's parameters.
SELECT r.dataset, r.id AS run_id, r.params,
       (SELECT count(*) FROM mendb.row_changes c WHERE c.dataset = r.dataset
          AND c.changed_at >= coalesce(r.started_at, r.finished_at)) AS changed,
       EXISTS (SELECT 1 FROM mendb.runs q WHERE q.dataset = r.dataset
          AND q.kind = 'value' AND q.status IN ('queued', 'running')) AS pending
FROM (SELECT DISTINCT ON (dataset) * FROM mendb.runs
      WHERE kind = 'value' AND status = 'done' AND method = %(method)s
      ORDER BY dataset, finished_at DESC, id DESC) AS r
ORDER BY r.dataset;

-- name: changes_watch_lock
-- One watcher at a time decides, until the end of its transaction.
SELECT pg_advisory_xact_lock(%(lock)s);
