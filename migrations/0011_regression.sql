-- Numeric targets and the user's own model. A dataset's task is classification or
-- regression (`mendb register --task`, or inferred from the label column: see
-- db/features.py), so the CHECK of 0001 widens. Requests may name the user's model:
-- every valuation method that fits a model takes `model_params` beside its `model`,
-- and a proposal round takes `model`, `model_params` and the column of stored
-- out-of-fold `predictions` (server/schemas.py holds the same list, and a test keeps
-- the two equal).

ALTER TABLE mendb.datasets DROP CONSTRAINT datasets_task_check;
ALTER TABLE mendb.datasets ADD CONSTRAINT datasets_task_check
    CHECK (task IN ('classification', 'regression'));

COMMENT ON COLUMN mendb.datasets.task IS
    'classification (the label is a class) or regression (the label is a number to predict)';

INSERT INTO mendb.request_params (kind, method, param, json_type, nullable)
SELECT 'value', p.method, 'model_params', 'any', true
FROM mendb.request_params p
WHERE p.kind = 'value' AND p.param = 'model';

INSERT INTO mendb.request_params (kind, method, param, json_type, nullable) VALUES
    ('propose', '', 'model', 'string', true),
    ('propose', '', 'model_params', 'any', true),
    ('propose', '', 'predictions', 'string', true);
