-- The change trigger runs inside other roles' writes to a registered table. As the
-- writer it needed rights on schema mendb that an application role has no reason to
-- hold, so its writes failed. It now runs as the function's owner (mendb's role),
-- with a search_path of pg_catalog alone so that no object a writer creates (in
-- pg_temp or elsewhere) can stand in for one it names; every mendb name inside is
-- schema-qualified.
--
-- A registration deleted without its trigger must not break writes either: the key
-- is recorded only while the dataset is registered.
CREATE OR REPLACE FUNCTION mendb.record_row_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keys text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        keys := ARRAY[pg_catalog.to_jsonb(NEW) ->> TG_ARGV[1]];
    ELSIF TG_OP = 'DELETE' THEN
        keys := ARRAY[pg_catalog.to_jsonb(OLD) ->> TG_ARGV[1]];
    ELSE
        keys := ARRAY[pg_catalog.to_jsonb(OLD) ->> TG_ARGV[1],
                      pg_catalog.to_jsonb(NEW) ->> TG_ARGV[1]];
    END IF;
    INSERT INTO mendb.row_changes AS c (dataset, row_key, operation)
    SELECT DISTINCT TG_ARGV[0], k, TG_OP FROM pg_catalog.unnest(keys) AS k
    WHERE k IS NOT NULL
      AND EXISTS (SELECT 1 FROM mendb.datasets d WHERE d.name = TG_ARGV[0])
    ON CONFLICT (dataset, row_key)
    DO UPDATE SET operation = EXCLUDED.operation, changed_at = EXCLUDED.changed_at;
    RETURN NULL;
END
$$;

-- Attaching it is mendb's alone: a role that could attach it to a table of its own
-- would write row_changes for any dataset, with the owner's rights.
REVOKE EXECUTE ON FUNCTION mendb.record_row_change() FROM PUBLIC;
