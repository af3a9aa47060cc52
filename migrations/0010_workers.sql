-- Workers say they are alive: each writes a row here when it starts and renews
-- `heartbeat_at` while it runs, busy or idle, from a thread of its own. /health
-- counts the workers heard from recently and the queued runs, so that a queue
-- nobody serves is visible. A worker that stops cleanly sets `stopped_at`; one
-- that dies simply falls silent.
CREATE TABLE mendb.workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    beat_seconds real NOT NULL CHECK (beat_seconds > 0),  -- alive while heard within 3 beats
    stopped_at   timestamptz,
    run_id       bigint  -- the run it is carrying out, if any
);
CREATE INDEX workers_heartbeat ON mendb.workers (heartbeat_at) WHERE stopped_at IS NULL;

-- A token's name is what the audit trail records for whoever used it, so a name
-- is never given to a second token, even after the first was revoked. The partial
-- unique index keeps refusing two live tokens of one name that are created at the
-- same moment; this trigger refuses a name any earlier token had.
CREATE FUNCTION mendb.refuse_reused_token_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM mendb.api_tokens t WHERE t.name = NEW.name AND t.id <> NEW.id) THEN
        RAISE EXCEPTION 'token name % was used before; token names are never reused',
            quote_literal(NEW.name) USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER api_tokens_names_once BEFORE INSERT OR UPDATE OF name ON mendb.api_tokens
    FOR EACH ROW EXECUTE FUNCTION mendb.refuse_reused_token_name();
