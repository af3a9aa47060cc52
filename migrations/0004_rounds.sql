-- The self-improving loop: one mendb.runs row of kind 'loop' per loop (its params
-- are the loop's settings), one mendb.rounds row per round. A loop waiting for a
-- person to review its proposals is 'paused'.

ALTER TABLE mendb.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE mendb.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed', 'cancelled'));

CREATE TABLE mendb.rounds (
    id            bigserial PRIMARY KEY,
    loop_id       bigint NOT NULL REFERENCES mendb.runs (id) ON DELETE CASCADE,
    dataset       text NOT NULL REFERENCES mendb.datasets (name) ON DELETE CASCADE,
    round         integer NOT NULL CHECK (round >= 1),
    method        text NOT NULL,
    value_run_id  bigint REFERENCES mendb.runs (id) ON DELETE SET NULL,
    rows_valued   integer,
    negative_rows integer,
    proposal_ids  bigint[] NOT NULL DEFAULT '{}',
    proposals     integer NOT NULL DEFAULT 0,
    accepted      integer NOT NULL DEFAULT 0,
    applied       integer NOT NULL DEFAULT 0,
    valid_before  double precision,
    valid_after   double precision,
    test_before   double precision,
    test_after    double precision,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'awaiting_review', 'done')),
    decision      text CHECK (decision IN ('kept', 'rolled_back', 'stopped')),
    reason        text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    duration_s    double precision,
    UNIQUE (loop_id, round)
);
CREATE INDEX rounds_dataset ON mendb.rounds (dataset, loop_id, round);
