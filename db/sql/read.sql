-- name: read_snapshot
-- Every statement of one read sees the same rows.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: read_vector_dims_check
-- One row whose vector has another dimension than the dataset was registered with.
SELECT {key}::text, vector_dims({column})
FROM {table}
WHERE vector_dims({column}) <> %(dim)s
LIMIT 1;

-- name: read_distinct
-- The distinct values of a column as text, in the order of the text.
SELECT DISTINCT {column}::text AS v FROM {table} WHERE {column} IS NOT NULL ORDER BY v;

-- name: read_distinct_with_validation
-- The distinct values of a column, as text, in a training and a validation table.
SELECT DISTINCT v
FROM (
    SELECT {column}::text AS v FROM {table} WHERE {column} IS NOT NULL
    UNION ALL
    SELECT {column}::text FROM {validation_table} WHERE {column} IS NOT NULL
) AS u
ORDER BY v;

-- name: read_first_null_label
SELECT {table}.{key}::text FROM {table} WHERE {label} IS NULL ORDER BY {table}.{key} LIMIT 1;

-- name: read_sorted_text
-- Values in the order read_distinct gives the text of a column.
SELECT v FROM unnest(%(values)s::text[]) AS v ORDER BY v;

-- name: read_count
SELECT count(*) FROM {table};

-- name: read_keys_copy
-- The keys as text, in key order.
COPY (SELECT {key}::text FROM {table} ORDER BY {key}) TO STDOUT;

-- name: read_keys_copy_binary
-- The same keys in binary form, where nothing is escaped.
COPY (SELECT {key}::text FROM {table} ORDER BY {key}) TO STDOUT (FORMAT BINARY);

-- name: read_values_copy
-- A table's rows as fixed-width binary records in key order; {fields} are the
-- read_field_* expressions below, {joins} the read_embedding_join ones.
COPY (SELECT {fields} FROM {table} {joins} ORDER BY {table}.{key}) TO STDOUT (FORMAT BINARY);

-- name: read_field_key
-- (A field of read_values_copy.) An integer key, as int8.
{table}.{key}::int8 AS {alias};

-- name: read_field_split_digest
-- (A field of read_values_copy.) The md5 digest mendb.split_unit maps to [0, 1).
md5(%(seed)s::integer::text || ':' || {key}::text) AS {alias};

-- name: read_field_label_integer
-- (A field of read_values_copy.) An integer label as itself, a null as a marker.
coalesce({label}::int8, %(null_label)s) AS {alias};

-- name: read_field_label_class
-- (A field of read_values_copy.) The 1-based position of the label among the classes.
coalesce(array_position(%(classes)s::text[], {label}::text), 0)::float8 AS {alias};

-- name: read_field_vector
-- (A field of read_values_copy.) A vector, zeros when null.
coalesce({column}, array_fill(0::real, ARRAY[{dim}])::vector) AS {alias};

-- name: read_field_vector_null
-- (A field of read_values_copy.) 1 where the vector is null.
({column} IS NULL)::int::float8 AS {alias};

-- name: read_field_categorical
-- (A field of read_values_copy.) The 1-based position of the value among the categories.
coalesce(array_position({categories}::text[], {column}::text)::float8, 'NaN'::float8)
    AS {alias};

-- name: read_field_number
-- (A field of read_values_copy.) A number as float8, NaN when null.
coalesce({column}::float8, 'NaN'::float8) AS {alias};

-- name: read_embedding_join
-- (A join of read_values_copy.) The embedding cached for a text column's current
-- content, as {alias}.v, null when there is none.
LEFT JOIN LATERAL (
    SELECT e.embedding AS v
    FROM mendb.embeddings e
    WHERE e.dataset = %(dataset)s AND e.column_name = {column_name} AND e.model = {model}
      AND e.table_name = %(table_name)s AND e.row_key = {table}.{key}::text
      AND e.content_hash = mendb.content_hash({table}.{column}::text)
) {alias} ON true;

-- name: read_predictions_label_levels
-- How many distinct labels a classification dataset's training table has, before
-- a column of stored predictions is taken as the probability of the second.
SELECT count(DISTINCT {label}) FROM {table};
