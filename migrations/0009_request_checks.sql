-- Requests are checked before they are queued, however they arrive: a parameter the
-- run does not take, or one of the wrong JSON type, is refused by name when the run
-- is inserted, as the HTTP API refuses it (server/schemas.py run_param_types holds
-- the same list, and a test keeps the two equal). The check sits on the insert of a
-- queued run rather than in mendb.request alone, so that a later version of that
-- function cannot leave it out.

CREATE TABLE mendb.request_params (
    kind      text NOT NULL CHECK (kind IN ('value', 'propose', 'loop', 'revert')),
    method    text NOT NULL DEFAULT '',  -- the valuation method, for kind 'value'
    param     text NOT NULL,
    json_type text NOT NULL
        CHECK (json_type IN ('integer', 'number', 'string', 'boolean', 'array', 'any')),
    nullable  boolean NOT NULL,
    PRIMARY KEY (kind, method, param)
);

INSERT INTO mendb.request_params (kind, method, param, json_type, nullable) VALUES
    ('value', 'knn_shapley', 'k', 'integer', false),
    ('value', 'knn_shapley', 'utility', 'string', false),
    ('value', 'tmc_shapley', 'max_samples', 'integer', false),
    ('value', 'tmc_shapley', 'max_time', 'number', true),
    ('value', 'tmc_shapley', 'stderr_below', 'number', true),
    ('value', 'tmc_shapley', 'rank_tolerance', 'number', true),
    ('value', 'tmc_shapley', 'rhat_below', 'number', true),
    ('value', 'tmc_shapley', 'truncation', 'number', false),
    ('value', 'tmc_shapley', 'model', 'any', true),
    ('value', 'tmc_shapley', 'utility', 'string', false),
    ('value', 'tmc_shapley', 'n_chains', 'integer', false),
    ('value', 'tmc_shapley', 'block_size', 'integer', false),
    ('value', 'tmc_shapley', 'seed', 'integer', true),
    ('value', 'tmc_shapley', 'executor', 'any', true),
    ('value', 'tmc_shapley', 'n_jobs', 'integer', false),
    ('value', 'banzhaf', 'max_samples', 'integer', false),
    ('value', 'banzhaf', 'max_time', 'number', true),
    ('value', 'banzhaf', 'stderr_below', 'number', true),
    ('value', 'banzhaf', 'rank_tolerance', 'number', true),
    ('value', 'banzhaf', 'rhat_below', 'number', true),
    ('value', 'banzhaf', 'model', 'any', true),
    ('value', 'banzhaf', 'utility', 'string', false),
    ('value', 'banzhaf', 'n_chains', 'integer', false),
    ('value', 'banzhaf', 'block_size', 'integer', false),
    ('value', 'banzhaf', 'seed', 'integer', true),
    ('value', 'banzhaf', 'executor', 'any', true),
    ('value', 'banzhaf', 'n_jobs', 'integer', false),
    ('value', 'beta_shapley', 'alpha', 'number', false),
    ('value', 'beta_shapley', 'beta', 'number', false),
    ('value', 'beta_shapley', 'max_samples', 'integer', false),
    ('value', 'beta_shapley', 'max_time', 'number', true),
    ('value', 'beta_shapley', 'stderr_below', 'number', true),
    ('value', 'beta_shapley', 'rank_tolerance', 'number', true),
    ('value', 'beta_shapley', 'rhat_below', 'number', true),
    ('value', 'beta_shapley', 'truncation', 'number', false),
    ('value', 'beta_shapley', 'model', 'any', true),
    ('value', 'beta_shapley', 'utility', 'string', false),
    ('value', 'beta_shapley', 'n_chains', 'integer', false),
    ('value', 'beta_shapley', 'block_size', 'integer', false),
    ('value', 'beta_shapley', 'seed', 'integer', true),
    ('value', 'beta_shapley', 'executor', 'any', true),
    ('value', 'beta_shapley', 'n_jobs', 'integer', false),
    ('value', 'loo', 'model', 'any', true),
    ('value', 'loo', 'utility', 'string', false),
    ('value', 'loo', 'block_size', 'integer', false),
    ('value', 'loo', 'executor', 'any', true),
    ('value', 'loo', 'n_jobs', 'integer', false),
    ('value', 'data_oob', 'n_estimators', 'integer', false),
    ('value', 'data_oob', 'bag_fraction', 'number', false),
    ('value', 'data_oob', 'model', 'any', true),
    ('value', 'data_oob', 'score', 'string', false),
    ('value', 'data_oob', 'utility', 'string', false),
    ('value', 'data_oob', 'max_time', 'number', true),
    ('value', 'data_oob', 'n_chains', 'integer', false),
    ('value', 'data_oob', 'block_size', 'integer', false),
    ('value', 'data_oob', 'seed', 'integer', true),
    ('value', 'data_oob', 'executor', 'any', true),
    ('value', 'data_oob', 'n_jobs', 'integer', false),
    ('value', 'ts_shapley', 'n_components', 'integer', false),
    ('value', 'ts_shapley', 'subset_size', 'integer', false),
    ('value', 'ts_shapley', 'permutations', 'integer', false),
    ('value', 'ts_shapley', 'n_chains', 'integer', false),
    ('value', 'ts_shapley', 'ridge', 'number', false),
    ('value', 'ts_shapley', 'max_valid', 'integer', false),
    ('value', 'ts_shapley', 'fallback_neighbors', 'integer', false),
    ('value', 'ts_shapley', 'max_samples', 'integer', true),
    ('value', 'ts_shapley', 'max_time', 'number', true),
    ('value', 'ts_shapley', 'rhat_below', 'number', true),
    ('value', 'ts_shapley', 'utility', 'string', false),
    ('value', 'ts_shapley', 'block_size', 'integer', false),
    ('value', 'ts_shapley', 'seed', 'integer', true),
    ('value', 'ts_shapley', 'executor', 'any', true),
    ('value', 'ts_shapley', 'n_jobs', 'integer', false),
    ('value', 'lava', 'epsilon', 'number', false),
    ('value', 'lava', 'reach', 'number', true),
    ('value', 'lava', 'max_iter', 'integer', false),
    ('value', 'lava', 'tol', 'number', false),
    ('value', 'lava', 'max_valid', 'integer', false),
    ('value', 'lava', 'seed', 'integer', true),
    ('value', 'influence_sgd', 'hidden', 'integer', false),
    ('value', 'influence_sgd', 'layers', 'integer', false),
    ('value', 'influence_sgd', 'epochs', 'integer', false),
    ('value', 'influence_sgd', 'checkpoints', 'integer', false),
    ('value', 'influence_sgd', 'd_proj', 'integer', false),
    ('value', 'influence_sgd', 'lr', 'number', true),
    ('value', 'influence_sgd', 'batch_size', 'integer', false),
    ('value', 'influence_sgd', 'seed', 'integer', true),
    ('value', 'influence_sgd', 'workdir', 'any', true),
    ('value', 'influence_sgd', 'device', 'string', true),
    ('value', 'influence_sgd', 'unit_indicators', 'boolean', false),
    ('value', 'influence_adam', 'hidden', 'integer', false),
    ('value', 'influence_adam', 'layers', 'integer', false),
    ('value', 'influence_adam', 'epochs', 'integer', false),
    ('value', 'influence_adam', 'checkpoints', 'integer', false),
    ('value', 'influence_adam', 'd_proj', 'integer', false),
    ('value', 'influence_adam', 'lr', 'number', true),
    ('value', 'influence_adam', 'batch_size', 'integer', false),
    ('value', 'influence_adam', 'seed', 'integer', true),
    ('value', 'influence_adam', 'workdir', 'any', true),
    ('value', 'influence_adam', 'device', 'string', true),
    ('value', 'influence_adam', 'unit_indicators', 'boolean', false),
    ('propose', '', 'max_rows', 'integer', false),
    ('propose', '', 'k', 'integer', false),
    ('propose', '', 'verify', 'boolean', false),
    ('loop', '', 'budget', 'integer', true),
    ('loop', '', 'max_rounds', 'integer', false),
    ('loop', '', 'min_gain', 'number', false),
    ('loop', '', 'margin', 'number', false),
    ('loop', '', 'policy', 'string', false),
    ('loop', '', 'min_confidence', 'number', false),
    ('loop', '', 'min_verified_confidence', 'number', false),
    ('loop', '', 'seed', 'integer', false),
    ('loop', '', 'k', 'integer', false),
    ('loop', '', 'verified_only', 'boolean', false),
    ('revert', '', 'ids', 'array', true);

-- The database cannot see the cores of the worker that will run a job, so the bound
-- on n_jobs is a setting: ALTER DATABASE ... SET mendb.max_jobs = <cores>.
CREATE FUNCTION mendb.check_request(kind text, method text, params jsonb)
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
    entry record;
    spec mendb.request_params;
    given text;
    fits boolean;
    max_jobs integer := coalesce(nullif(current_setting('mendb.max_jobs', true), '')::integer, 64);
    what text := check_request.kind
        || CASE WHEN check_request.kind = 'value' THEN ' ' || check_request.method ELSE '' END;
BEGIN
    IF check_request.kind = 'value' AND NOT EXISTS (
        SELECT 1 FROM mendb.request_params p
        WHERE p.kind = 'value' AND p.method = check_request.method
    ) THEN
        RAISE EXCEPTION 'mendb.request: method % is not one of %',
            quote_nullable(check_request.method),
            (SELECT string_agg(DISTINCT p.method, ', ' ORDER BY p.method)
             FROM mendb.request_params p WHERE p.kind = 'value')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'method';
    END IF;
    FOR entry IN SELECT e.key, e.value FROM jsonb_each(coalesce(check_request.params, '{}')) e
    LOOP
        SELECT * INTO spec FROM mendb.request_params p
        WHERE p.kind = check_request.kind
          AND p.method = CASE WHEN check_request.kind = 'value' THEN check_request.method
                              ELSE '' END
          AND p.param = entry.key;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'mendb.request: % takes no parameter %; it takes %', what,
                quote_literal(entry.key),
                coalesce((SELECT string_agg(p.param, ', ' ORDER BY p.param)
                          FROM mendb.request_params p
                          WHERE p.kind = check_request.kind
                            AND p.method = CASE WHEN check_request.kind = 'value'
                                                THEN check_request.method ELSE '' END), 'none')
                USING ERRCODE = 'invalid_parameter_value', COLUMN = entry.key;
        END IF;
        given := jsonb_typeof(entry.value);
        fits := CASE
            WHEN given = 'null' THEN spec.nullable
            WHEN spec.json_type = 'any' THEN true
            WHEN spec.json_type = 'integer' THEN given = 'number' AND entry.value::text ~ '^-?[0-9]+$'
            ELSE given = spec.json_type
        END;
        IF NOT fits THEN
            RAISE EXCEPTION 'mendb.request: parameter % of % must be %, not %', entry.key, what,
                CASE spec.json_type WHEN 'integer' THEN 'an integer' WHEN 'array' THEN 'a list'
                                    WHEN 'boolean' THEN 'true or false'
                                    ELSE 'a ' || spec.json_type END
                    || CASE WHEN spec.nullable THEN ' or null' ELSE '' END,
                left(entry.value::text, 60)
                USING ERRCODE = 'invalid_parameter_value', COLUMN = entry.key;
        END IF;
        IF entry.key = 'n_jobs' AND given = 'number' AND entry.value::numeric <> -1
           AND NOT entry.value::numeric BETWEEN 1 AND max_jobs THEN
            RAISE EXCEPTION 'mendb.request: n_jobs must be -1 or between 1 and % (mendb.max_jobs), not %',
                max_jobs, left(entry.value::text, 60)
                USING ERRCODE = 'invalid_parameter_value', COLUMN = 'n_jobs';
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION mendb.check_queued_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mendb.check_request(NEW.kind, NEW.method, NEW.params);
    RETURN NEW;
END
$$;

CREATE TRIGGER runs_check_request BEFORE INSERT ON mendb.runs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION mendb.check_queued_run();
