-- name: datasets_insert
-- Register a dataset; its features and split are the JSON of their dataclasses, its
-- task classification or regression.
INSERT INTO mendb.datasets (name, table_schema, table_name, key_column, label_column,
                            features, split, task)
VALUES (%(name)s, %(table_schema)s, %(table_name)s, %(key_column)s, %(label_column)s,
        %(features)s, %(split)s, %(task)s);

-- name: datasets_get
SELECT * FROM mendb.datasets WHERE name = %(name)s;

-- name: datasets_list
SELECT * FROM mendb.datasets ORDER BY name;

-- name: datasets_delete
-- Forget a registration (the demos start over); its table is left as it is.
DELETE FROM mendb.datasets WHERE name = %(name)s;

-- name: datasets_readable
-- Whether this role may read the registrations (schema mendb exists).
SELECT has_table_privilege('mendb.datasets', 'SELECT');

-- name: datasets_registered_tables
-- Every table a registration reads, training and validation, as schema.table.
SELECT table_schema || '.' || table_name FROM mendb.datasets
UNION
SELECT split ->> 'validation_table' FROM mendb.datasets
WHERE split ->> 'validation_table' IS NOT NULL
ORDER BY 1;

-- name: datasets_key_check
-- Rows, non-null keys, distinct keys, and one duplicated key if any.
SELECT count(*) AS total, count({key}) AS non_null, count(DISTINCT {key}) AS distinct_keys,
       (SELECT {key}::text FROM {table} GROUP BY {key} HAVING count(*) > 1 LIMIT 1)
           AS duplicate
FROM {table};

-- name: datasets_label_check
-- Distinct labels, the key of one row with a null label and how many have one, and
-- how many rows have a label.
SELECT count(DISTINCT {label}) AS classes,
       (SELECT {key}::text FROM {table} WHERE {label} IS NULL LIMIT 1) AS null_key,
       count(*) FILTER (WHERE {label} IS NULL) AS nulls,
       count({label}) AS labelled
FROM {table};

-- name: datasets_target_nonfinite
-- One row whose numeric target is NaN or infinite (numeric and float columns can
-- hold both), and which of them it is.
SELECT {key}::text, {label}::float8::text
FROM {table}
WHERE {label}::float8 IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)
LIMIT 1;

-- name: datasets_vector_dims
-- The smallest and largest dimension among a vector column's values.
SELECT min(vector_dims({column})), max(vector_dims({column})) FROM {table};

-- name: datasets_text_levels
-- How many distinct values a text column has, and the length of its longest.
SELECT count(DISTINCT {column}), coalesce(max(length({column}::text)), 0) FROM {table};

-- name: datasets_import_table_exists
-- Whether a relation of that qualified name exists, before a file is imported into it.
SELECT to_regclass(%(table)s) IS NOT NULL;

-- name: datasets_import_create_table
-- The table a file is imported into; {columns} are its column definitions.
CREATE TABLE {table} ({columns}, PRIMARY KEY ({key}));

-- name: datasets_import_copy
COPY {table} ({columns}) FROM STDIN (FORMAT BINARY);

-- name: datasets_row_number_span
-- Rows, the column's non-null values, and whether they are whole numbers running
-- from the smallest to the largest with as many steps as there are rows.
SELECT count(*) AS total, count({column}) AS non_null,
       max({column})::numeric - min({column})::numeric + 1 = count(*)
           AND bool_and({column}::numeric = trunc({column}::numeric)) AS spans_rows
FROM {table};

-- name: datasets_distinct_values
SELECT count(DISTINCT {column}) FROM {table};
