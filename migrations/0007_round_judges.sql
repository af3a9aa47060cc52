-- The loop judges a round on the validation rows only, with proper scoring rules and
-- class-balanced metrics beside accuracy, and a paired margin; the sealed test split
-- is measured for reporting and never read by a decision. Each round also records
-- what its relabels did to the label distribution.

ALTER TABLE mendb.rounds
    ADD COLUMN code                       text,
    ADD COLUMN valid_log_loss_before      double precision,
    ADD COLUMN valid_log_loss_after       double precision,
    ADD COLUMN valid_balanced_before      double precision,
    ADD COLUMN valid_balanced_after       double precision,
    ADD COLUMN valid_macro_f1_before      double precision,
    ADD COLUMN valid_macro_f1_after       double precision,
    ADD COLUMN valid_brier_before         double precision,
    ADD COLUMN valid_brier_after          double precision,
    ADD COLUMN validation                 text
        CHECK (validation IN ('trusted', 'noisy_corrected', 'noisy')),
    ADD COLUMN judges                     jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN relabels                   jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN label_distribution         jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN test_balanced_before       double precision,
    ADD COLUMN test_balanced_after        double precision,
    ADD COLUMN test_log_loss_before       double precision,
    ADD COLUMN test_log_loss_after        double precision;

ALTER TABLE mendb.rounds DROP CONSTRAINT rounds_decision_check;
ALTER TABLE mendb.rounds ADD CONSTRAINT rounds_decision_check
    CHECK (decision IN ('kept', 'rolled_back', 'stopped', 'refused'));

COMMENT ON COLUMN mendb.rounds.valid_before IS
    'validation accuracy before the round (the validation rows judge the round)';
COMMENT ON COLUMN mendb.rounds.code IS
    'the decision as a machine-readable code (server.policy.Code)';
COMMENT ON COLUMN mendb.rounds.validation IS
    'trusted: a validation table; noisy_corrected: a split of the noisy table, judged'
    ' with losses corrected for the estimated label noise';
COMMENT ON COLUMN mendb.rounds.judges IS
    'each judge''s paired change (after - before) on the validation rows, its standard'
    ' error and its margin';
COMMENT ON COLUMN mendb.rounds.relabels IS
    'label repairs applied by the round, by direction: [{"from", "to", "count"}]';
COMMENT ON COLUMN mendb.rounds.label_distribution IS
    'class shares of the training rows before and after the round, and the reference'
    ' (the validation rows'' class shares) they are held to';
COMMENT ON COLUMN mendb.rounds.test_before IS
    'reporting only: sealed-test accuracy before the round; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_after IS
    'reporting only: sealed-test accuracy after the round; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_balanced_before IS
    'reporting only: sealed-test balanced accuracy; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_balanced_after IS
    'reporting only: sealed-test balanced accuracy; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_log_loss_before IS
    'reporting only: sealed-test log-loss; no decision reads it';
COMMENT ON COLUMN mendb.rounds.test_log_loss_after IS
    'reporting only: sealed-test log-loss; no decision reads it';
