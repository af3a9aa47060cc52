-- name: propose_cached_models
-- The text columns of a dataset's table with cached embeddings of one model, and the
-- embeddings' width.
SELECT column_name, max(dims)
FROM mendb.embeddings
WHERE dataset = %(dataset)s AND model = %(model)s AND table_name = %(table_name)s
GROUP BY column_name;

-- name: propose_current_cells
-- Some rows' cells as PostgreSQL prints them (what apply compares against): the key,
-- then {cells}, one `column::text` per column read.
SELECT {key}::text, {cells} FROM {table} WHERE {key}::text = ANY(%(keys)s);
