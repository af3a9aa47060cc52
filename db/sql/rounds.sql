-- name: round_start
-- A new round of a loop, numbered from 1; it runs until a decision ends it.
INSERT INTO mendb.rounds (loop_id, dataset, round, method)
VALUES (%(loop_id)s, %(dataset)s, %(round)s, %(method)s)
RETURNING id;

-- name: round_measured
-- The model as it stood when the round began, and which validation rows judge it; a
-- classifier's figures or a regressor's (RMSE, MAE), the other's null.
UPDATE mendb.rounds
SET validation = %(validation)s,
    valid_before = %(valid_before)s, valid_log_loss_before = %(valid_log_loss_before)s,
    valid_balanced_before = %(valid_balanced_before)s,
    valid_macro_f1_before = %(valid_macro_f1_before)s, valid_brier_before = %(valid_brier_before)s,
    test_before = %(test_before)s, test_balanced_before = %(test_balanced_before)s,
    test_log_loss_before = %(test_log_loss_before)s,
    valid_rmse_before = %(valid_rmse_before)s, valid_mae_before = %(valid_mae_before)s,
    test_rmse_before = %(test_rmse_before)s, test_mae_before = %(test_mae_before)s
WHERE id = %(round_id)s;

-- name: round_valued
UPDATE mendb.rounds
SET value_run_id = %(value_run_id)s, rows_valued = %(rows_valued)s,
    negative_rows = %(negative_rows)s
WHERE id = %(round_id)s;

-- name: round_proposed
-- The round's proposals and how many the auto policy accepted; a round under the
-- review policy with proposals waits for its reviewer.
UPDATE mendb.rounds
SET proposal_ids = %(proposal_ids)s, proposals = cardinality(%(proposal_ids)s::bigint[]),
    accepted = %(accepted)s, status = %(status)s
WHERE id = %(round_id)s;

-- name: round_stopped
-- The round ends the loop before anything of it was applied.
UPDATE mendb.rounds
SET status = 'done', decision = 'stopped', code = %(code)s, reason = %(reason)s,
    finished_at = clock_timestamp(),
    duration_s = extract(epoch FROM clock_timestamp() - started_at)
WHERE id = %(round_id)s;

-- name: round_refused
-- The label guard refused the round's relabels: nothing was applied.
UPDATE mendb.rounds
SET status = 'done', decision = 'refused', code = %(code)s, reason = %(reason)s,
    accepted = coalesce(%(accepted)s::integer, accepted), relabels = %(relabels)s,
    label_distribution = %(label_distribution)s, judges = %(judges)s,
    finished_at = clock_timestamp(),
    duration_s = extract(epoch FROM clock_timestamp() - started_at)
WHERE id = %(round_id)s;

-- name: round_judged
-- The round's repairs were applied, the model retrained, and the judges kept or
-- rolled back the round. Deliberately like round_measured: the same figures, each
-- `*_after` column where that sets `*_before`.
UPDATE mendb.rounds
SET status = 'done', decision = %(decision)s, code = %(code)s, reason = %(reason)s,
    accepted = coalesce(%(accepted)s::integer, accepted), applied = %(applied)s,
    relabels = %(relabels)s, label_distribution = %(label_distribution)s, judges = %(judges)s,
    valid_after = %(valid_after)s, valid_log_loss_after = %(valid_log_loss_after)s,
    valid_balanced_after = %(valid_balanced_after)s,
    valid_macro_f1_after = %(valid_macro_f1_after)s, valid_brier_after = %(valid_brier_after)s,
    test_after = %(test_after)s, test_balanced_after = %(test_balanced_after)s,
    test_log_loss_after = %(test_log_loss_after)s,
    valid_rmse_after = %(valid_rmse_after)s, valid_mae_after = %(valid_mae_after)s,
    test_rmse_after = %(test_rmse_after)s, test_mae_after = %(test_mae_after)s,
    finished_at = clock_timestamp(),
    duration_s = extract(epoch FROM clock_timestamp() - started_at)
WHERE id = %(round_id)s;

-- name: rounds_of_loop
SELECT * FROM mendb.rounds WHERE loop_id = %(loop_id)s ORDER BY round;

-- name: paused_loop
-- The dataset's loop that waits for the review of its last round's proposals.
SELECT * FROM mendb.runs
WHERE dataset = %(dataset)s AND kind = 'loop' AND status = 'paused'
ORDER BY id DESC
LIMIT 1;

-- name: latest_loop
-- The dataset's newest loop; a run that only asked to resume one is not a loop.
SELECT * FROM mendb.runs
WHERE dataset = %(dataset)s AND kind = 'loop' AND NOT diagnostics ? 'resumes_loop'
ORDER BY id DESC
LIMIT 1;

-- name: set_loop_status
UPDATE mendb.runs
SET status = %(status)s,
    finished_at = CASE WHEN %(status)s IN ('done', 'failed', 'cancelled')
                       THEN clock_timestamp() END
WHERE id = %(loop_id)s;
