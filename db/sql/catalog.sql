-- name: catalog_relation_exists
-- A table, view or materialized view of that name exists in that schema.
SELECT EXISTS (
    SELECT 1
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relname = %(name)s
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
);

-- name: catalog_columns
-- The columns of a relation in table order, with their SQL type as psql writes it
-- and the kind of feature mendb can read from them. A domain counts as its base
-- type; a pgvector column's dimension is its type modifier (vector(384)).
SELECT a.attname AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name,
       CASE
           WHEN b.typname = 'vector' THEN 'vector'
           WHEN b.typname = 'bool' OR b.typtype = 'e' THEN 'categorical'
           WHEN b.typname IN ('int2', 'int4', 'int8', 'numeric', 'float4', 'float8')
               THEN 'numeric'
           WHEN b.typcategory = 'S' THEN 'text'
           ELSE 'other'
       END AS kind,
       NOT a.attnotnull AS nullable,
       CASE
           WHEN b.typname = 'vector'
               THEN nullif(greatest(a.atttypmod, t.typtypmod, 0), 0)
       END AS dim
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE n.nspname = %(schema)s AND c.relname = %(name)s
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

-- name: catalog_integer_columns
-- Which of the named columns are of an integer type, so travel as a fixed-width int8.
SELECT a.attname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = %(name)s
  AND a.attname = ANY(%(columns)s) AND NOT a.attisdropped
  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype);
