-- name: demo_drop_tables
-- `mendb demo` starts over: its training table and its record of flipped labels.
DROP TABLE IF EXISTS public.demo_train, public.demo_flips;

-- name: demo_create_train
-- The demo's training rows; {features} are demo_feature_column definitions.
CREATE TABLE public.demo_train (id integer PRIMARY KEY, {features}, label integer NOT NULL);

-- name: demo_feature_column
-- (A column definition of demo_create_train.)
{column} double precision;

-- name: demo_create_flips
CREATE TABLE public.demo_flips (
    id integer PRIMARY KEY,
    true_label integer NOT NULL,
    noisy_label integer NOT NULL
);

-- name: demo_copy_train
COPY public.demo_train FROM STDIN (FORMAT BINARY);

-- name: demo_record_flips
-- Which rows get another label, shifted by a number of classes, and their truth.
WITH f AS (SELECT unnest(%(ids)s::int[]) AS id, unnest(%(shifts)s::int[]) AS shift)
INSERT INTO public.demo_flips
SELECT t.id, t.label, (t.label + f.shift) %% %(classes)s
FROM public.demo_train t JOIN f USING (id);

-- name: demo_apply_flips
-- The dirt the demo plants, by plain SQL: not a repair.
UPDATE public.demo_train t SET label = f.noisy_label FROM public.demo_flips f WHERE f.id = t.id;

-- name: demo_flipped_truth
SELECT id::text, true_label::text FROM public.demo_flips;

-- name: demo_text_drop_tables
-- `mendb demo --text` starts over: its reviews and its record of planted errors.
DROP TABLE IF EXISTS public.demo_text_train, public.demo_text_truth;

-- name: demo_text_create_train
CREATE TABLE public.demo_text_train (
    id integer PRIMARY KEY,
    review text,
    emb vector(384),
    label text
);

-- name: demo_text_create_truth
CREATE TABLE public.demo_text_truth (kind text, id integer, true_value text);

-- name: demo_text_copy_train
COPY public.demo_text_train (id, review, label) FROM STDIN;

-- name: demo_text_record_truth
INSERT INTO public.demo_text_truth VALUES (%(kind)s, %(id)s, %(true_value)s);

-- name: demo_text_set_review
UPDATE public.demo_text_train SET review = %(review)s WHERE id = %(id)s;

-- name: demo_text_set_label
UPDATE public.demo_text_train SET label = %(label)s WHERE id = %(id)s;

-- name: demo_text_derive_vectors
-- The vector column is the cached embedding of the review.
UPDATE public.demo_text_train t SET emb = e.embedding
FROM mendb.embeddings e
WHERE e.dataset = %(dataset)s AND e.column_name = 'review' AND e.row_key = t.id::text;

-- name: demo_text_vectors
SELECT id, emb::text FROM public.demo_text_train WHERE id = ANY(%(ids)s);

-- name: demo_text_copy_vector
-- A row takes another row's vector.
UPDATE public.demo_text_train
SET emb = (SELECT emb FROM public.demo_text_train WHERE id = %(source)s)
WHERE id = %(id)s;

-- name: demo_text_truth
SELECT kind, id::text, true_value FROM public.demo_text_truth;
