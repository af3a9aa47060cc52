-- Loops through the queue: mendb.request('loop', 'demo', '{"budget": 50}') starts a
-- loop on the dataset (its settings are LoopConfig's fields), or resumes the one
-- paused for review.

CREATE OR REPLACE FUNCTION mendb.request(kind text, dataset text, params jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    run_id bigint;
BEGIN
    IF request.kind IS NULL OR request.kind NOT IN ('value', 'propose', 'apply', 'revert', 'loop') THEN
        RAISE EXCEPTION 'mendb.request: kind % is not one of value, propose, apply, revert, loop',
            quote_nullable(request.kind) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM mendb.datasets d WHERE d.name = request.dataset) THEN
        RAISE EXCEPTION 'mendb.request: no dataset named % is registered',
            quote_nullable(request.dataset) USING ERRCODE = 'no_data_found';
    END IF;
    IF jsonb_typeof(coalesce(request.params, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'mendb.request: params must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mendb.runs AS r (dataset, kind, method, params, status)
    VALUES (
        request.dataset,
        request.kind,
        CASE WHEN request.kind = 'value'
             THEN coalesce(request.params ->> 'method', 'knn_shapley')
             ELSE request.params ->> 'method' END,
        coalesce(request.params, '{}') - 'method',
        'queued'
    )
    RETURNING r.id INTO run_id;
    RETURN run_id;
END
$$;
