-- A loop on a numeric target judges each round on the validation rows' errors: the
-- RMSE and the MAE of the downstream regressor before and after the round (the
-- decision reads the paired per-row squared and absolute errors, in `judges`). The
-- sealed test's RMSE and MAE are measured for reporting and never read by a
-- decision, like the test_* columns of 0007. A classification loop leaves these null.

ALTER TABLE mendb.rounds
    ADD COLUMN valid_rmse_before   double precision,
    ADD COLUMN valid_rmse_after    double precision,
    ADD COLUMN valid_mae_before    double precision,
    ADD COLUMN valid_mae_after     double precision,
    ADD COLUMN test_rmse_before    double precision,
    ADD COLUMN test_rmse_after     double precision,
    ADD COLUMN test_mae_before     double precision,
    ADD COLUMN test_mae_after      double precision;

COMMENT ON COLUMN mendb.rounds.valid_rmse_before IS
    'validation RMSE before the round (a numeric target; the validation rows judge the round)';
COMMENT ON COLUMN mendb.rounds.valid_rmse_after IS
    'validation RMSE after the round''s repairs, before it was kept or rolled back';
COMMENT ON COLUMN mendb.rounds.valid_mae_before IS
    'validation MAE before the round (a numeric target)';
COMMENT ON COLUMN mendb.rounds.valid_mae_after IS
    'validation MAE after the round''s repairs, before it was kept or rolled back';
COMMENT ON COLUMN mendb.rounds.test_rmse_before IS
    'reporting only: sealed-test RMSE before the round; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_rmse_after IS
    'reporting only: sealed-test RMSE after the round; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_mae_before IS
    'reporting only: sealed-test MAE before the round; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_mae_after IS
    'reporting only: sealed-test MAE after the round; no decision reads it';

-- A loop may name the user's own estimator (`model`, package.module:Class) and its
-- parameters (`model_params`, a JSON object): it retrains and judges with it
-- (server/loop_config.py declares both; server/schemas.py run_param_types holds the
-- same list, and a test keeps the two equal).
INSERT INTO mendb.request_params (kind, method, param, json_type, nullable) VALUES
    ('loop', '', 'model', 'string', true),
    ('loop', '', 'model_params', 'any', true);
