-- The embedding cache: one pgvector vector per (dataset, text column, model, table,
-- row),
-- with the hash of the text it was computed from, so that only new or changed rows
-- are embedded again. Vectors of any dimension share the table; each dimension
-- gets its own HNSW (cosine) index over a cast to vector(dims), partial on dims.
-- db/embeddings.py creates the index for other dimensions on first use.

CREATE TABLE mendb.embeddings (
    dataset       text NOT NULL REFERENCES mendb.datasets (name) ON DELETE CASCADE,
    column_name   text NOT NULL,
    -- the table the row is in: the training table, or the validation table
    table_name    text NOT NULL,
    model         text NOT NULL,
    row_key       text NOT NULL,
    content_hash  text NOT NULL,
    dims          integer NOT NULL CHECK (dims > 0),
    embedding     vector NOT NULL CHECK (vector_dims(embedding) = dims),
    embedded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, column_name, model, table_name, row_key)
);

CREATE INDEX embeddings_hnsw_384 ON mendb.embeddings
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dims = 384;

-- The hash the cache is keyed by: sha256 of the text's UTF-8 bytes, in hex.
CREATE FUNCTION mendb.content_hash(content text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(content, 'UTF8')), 'hex')
$$;
