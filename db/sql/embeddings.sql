-- name: embeddings_read_texts
-- (key, text, content hash) of every row of a table, in key order.
COPY (SELECT {key}::text, {column}::text, mendb.content_hash({column}::text)
      FROM {table} ORDER BY {key})
TO STDOUT (FORMAT BINARY);

-- name: embeddings_cached_hashes
-- The content hash each row's cached embedding was made from.
SELECT row_key, content_hash FROM mendb.embeddings
WHERE dataset = %(dataset)s AND column_name = %(column)s AND model = %(model)s
  AND table_name = %(table_name)s;

-- name: embeddings_create_staging
-- New embeddings are staged here by COPY, then merged in one statement.
CREATE TEMP TABLE _mendb_embeddings (table_name text, row_key text, content_hash text,
                                     embedding vector) ON COMMIT DROP;

-- name: embeddings_copy_staging
COPY _mendb_embeddings FROM STDIN (FORMAT BINARY);

-- name: embeddings_merge_staging
INSERT INTO mendb.embeddings (dataset, column_name, table_name, model, row_key,
                              content_hash, dims, embedding)
SELECT %(dataset)s, %(column)s, table_name, %(model)s, row_key, content_hash,
       vector_dims(embedding), embedding
FROM _mendb_embeddings
ON CONFLICT (dataset, column_name, model, table_name, row_key) DO UPDATE
SET content_hash = excluded.content_hash, dims = excluded.dims,
    embedding = excluded.embedding, embedded_at = now();

-- name: embeddings_remove_gone
-- Rows no longer in the table (or now null) lose their embedding.
DELETE FROM mendb.embeddings
WHERE dataset = %(dataset)s AND column_name = %(column)s AND model = %(model)s
  AND table_name = %(table_name)s AND NOT (row_key = ANY(%(keep)s));

-- name: embeddings_create_index
-- The HNSW (cosine) index for vectors of one dimension; {dims} is that number.
CREATE INDEX IF NOT EXISTS {name} ON mendb.embeddings
USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims};

-- name: embeddings_count
-- How many embeddings one cached column holds.
SELECT count(*) FROM mendb.embeddings
WHERE dataset = %(dataset)s AND column_name = %(column)s AND model = %(model)s
  AND table_name = %(table_name)s;

-- name: embeddings_exact_search
-- Exact search: no index scan, a sequential scan and a sort.
SET LOCAL enable_indexscan = off;

-- name: embeddings_index_search
-- Search on the HNSW index.
SET LOCAL enable_seqscan = off;

-- name: embeddings_iterative_scan
-- pgvector's iterative scan, so the filters never leave a row short of neighbours.
SET LOCAL hnsw.iterative_scan = strict_order;

-- name: embeddings_ef_search
-- The HNSW candidate list; SET takes no parameters, so {ef_search} is a literal number.
SET LOCAL hnsw.ef_search = {ef_search};

-- name: embeddings_neighbours
-- For each key (in order), its nearest rows of the cache, itself excluded.
-- {dims} is the vectors' dimension, a literal so the HNSW index of it is used.
SELECT q.ord, n.row_key, n.distance
FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS q(key, ord)
JOIN mendb.embeddings e
  ON e.dataset = %(dataset)s AND e.column_name = %(column)s AND e.model = %(model)s
 AND e.table_name = %(table_name)s AND e.row_key = q.key
CROSS JOIN LATERAL (
    SELECT o.row_key, o.embedding::vector({dims}) <=> e.embedding::vector({dims}) AS distance
    FROM mendb.embeddings o
    WHERE o.dims = {dims} AND o.dataset = %(dataset)s AND o.column_name = %(column)s
      AND o.model = %(model)s AND o.table_name = %(table_name)s AND o.row_key <> q.key
    ORDER BY o.embedding::vector({dims}) <=> e.embedding::vector({dims})
    LIMIT %(k)s
) n
ORDER BY q.ord, n.distance;
