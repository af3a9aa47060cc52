-- name: migrate_tracking_exists
SELECT to_regclass('mendb.schema_migrations') IS NOT NULL;

-- name: migrate_applied_versions
SELECT version FROM mendb.schema_migrations;

-- name: migrate_lock
-- Held until the transaction ends: two processes never migrate at once.
SELECT pg_advisory_xact_lock(%(key)s);

-- name: migrate_create_schema
CREATE SCHEMA IF NOT EXISTS mendb;

-- name: migrate_create_tracking
CREATE TABLE IF NOT EXISTS mendb.schema_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migrate_record
INSERT INTO mendb.schema_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: migrate_change_triggers
-- mendb's triggers on tables outside its schema.
SELECT n.nspname, c.relname, t.tgname
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
JOIN pg_catalog.pg_namespace f ON f.oid = p.pronamespace
WHERE f.nspname = 'mendb' AND n.nspname <> 'mendb' AND NOT t.tgisinternal
ORDER BY 1, 2, 3;

-- name: migrate_installed
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'mendb');

-- name: migrate_drop_schema
-- CASCADE takes the change triggers with the functions they call, whoever owns
-- their tables.
DROP SCHEMA mendb CASCADE;
