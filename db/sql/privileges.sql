-- name: privileges_current_role
SELECT current_user;

-- name: privileges_current_database
SELECT current_database();

-- name: privileges_is_superuser
SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;

-- name: privileges_schema_readable
-- Where a schema exists: its owner, and whether this role may use it and read its
-- migrations table (true when there is none yet).
SELECT pg_catalog.pg_get_userbyid(n.nspowner),
       has_schema_privilege(n.oid, 'USAGE'),
       c.oid IS NULL OR (has_schema_privilege(n.oid, 'USAGE')
                         AND has_table_privilege(c.oid, 'SELECT'))
FROM pg_catalog.pg_namespace n
LEFT JOIN pg_catalog.pg_class c
       ON c.relnamespace = n.oid AND c.relname = 'schema_migrations'
WHERE n.nspname = %(schema)s;

-- name: privileges_schema_owner
-- A schema's owner, and whether this role acts as that owner.
SELECT pg_catalog.pg_get_userbyid(nspowner), pg_catalog.pg_has_role(nspowner, 'USAGE')
FROM pg_catalog.pg_namespace
WHERE nspname = %(schema)s;

-- name: privileges_may_create_schema
SELECT has_database_privilege(current_database(), 'CREATE');

-- name: privileges_vector_created
SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'vector';

-- name: privileges_vector_available
-- Whether pgvector's default version needs a superuser, and whether it is trusted.
SELECT v.superuser, v.trusted
FROM pg_catalog.pg_available_extension_versions v
JOIN pg_catalog.pg_available_extensions a USING (name)
WHERE v.name = 'vector' AND v.version = a.default_version;

-- name: privileges_table
-- A table's oid and owner, and whether this role may use its schema.
SELECT c.oid, pg_catalog.pg_get_userbyid(c.relowner), has_schema_privilege(n.oid, 'USAGE')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = %(name)s;

-- name: privileges_has_table_privilege
SELECT has_table_privilege(%(oid)s::oid, %(privilege)s);

-- name: privileges_may_execute_change_function
SELECT has_function_privilege('mendb.record_row_change()', 'EXECUTE');

-- name: privileges_change_function_owner
SELECT pg_catalog.pg_get_userbyid(proowner)
FROM pg_catalog.pg_proc
WHERE oid = 'mendb.record_row_change()'::regprocedure;

-- name: privileges_grant_create_on_database
-- (Printed for an operator, never run by mendb, like every grant below.)
GRANT CREATE ON DATABASE {database} TO {role};

-- name: privileges_grant_connect_create_on_database
GRANT CONNECT, CREATE ON DATABASE {database} TO {role};

-- name: privileges_grant_usage_on_schema
GRANT USAGE ON SCHEMA {schema} TO {role};

-- name: privileges_grant_on_table
-- {privileges} are SELECT, UPDATE or TRIGGER, from mendb's own list.
GRANT {privileges} ON {table} TO {role};

-- name: privileges_grant_execute_change_function
GRANT EXECUTE ON FUNCTION mendb.record_row_change() TO {role};

-- name: privileges_create_role
CREATE ROLE {role} LOGIN PASSWORD '...';
