-- The Money Wave relayer, third part: emission never stalls on one credit (docs/DESIGN.md M8).
--
-- 1. A credit may be split across waves. relayer.wave_credits now holds one row per (credit,
--    wave): the part of the credit that the wave carries. When a credit does not fit whole in
--    what day d's cap (or PMC's remaining supply) leaves, the part that fits joins wave d and the
--    rest waits for day d + 1, first in line. The credit stays `pending` until its parts add up
--    to its amount, then turns `in_wave` with the `wave_day` of its last part. Parts are
--    positive; the parts of a credit never exceed it, and a credit that left `pending` is
--    covered by its parts exactly (checked by the triggers below after every statement that
--    writes either table; the reverse, that a fully covered credit has left `pending`, holds at
--    commit and is checked by the relayer's reconciliation).
ALTER TABLE relayer.wave_credits DROP CONSTRAINT wave_credits_pkey;
ALTER TABLE relayer.wave_credits ADD PRIMARY KEY (credit_id, day);
ALTER TABLE relayer.wave_credits ADD CONSTRAINT wave_credits_amount_positive CHECK (amount > 0);

-- Fails when one of `ids` has parts beyond its amount, or left `pending` without being covered.
CREATE FUNCTION relayer.check_credit_parts(ids UUID[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bad RECORD;
BEGIN
    SELECT c.id, c.amount, c.state, COALESCE(p.parts, 0) AS parts INTO bad
      FROM credits.credits c
      LEFT JOIN (SELECT credit_id, sum(amount) AS parts FROM relayer.wave_credits
                  WHERE credit_id = ANY (ids) GROUP BY credit_id) p ON p.credit_id = c.id
     WHERE c.id = ANY (ids)
       AND (COALESCE(p.parts, 0) > c.amount OR (c.state <> 'pending' AND COALESCE(p.parts, 0) <> c.amount))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'credit % of % wei in state % has % wei in waves', bad.id, bad.amount, bad.state, bad.parts
            USING ERRCODE = 'check_violation', CONSTRAINT = 'wave_credits_cover_their_credit';
    END IF;
END;
$$;

CREATE FUNCTION relayer.wave_credits_cover_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM relayer.check_credit_parts(ARRAY(SELECT DISTINCT credit_id FROM written));
    RETURN NULL;
END;
$$;

CREATE FUNCTION relayer.wave_credits_cover_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM relayer.check_credit_parts(ARRAY(SELECT credit_id FROM written UNION SELECT credit_id FROM replaced));
    RETURN NULL;
END;
$$;

CREATE TRIGGER wave_credits_insert_cover
    AFTER INSERT ON relayer.wave_credits REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION relayer.wave_credits_cover_written();
CREATE TRIGGER wave_credits_update_cover
    AFTER UPDATE ON relayer.wave_credits REFERENCING NEW TABLE AS written OLD TABLE AS replaced
    FOR EACH STATEMENT EXECUTE FUNCTION relayer.wave_credits_cover_updated();
CREATE TRIGGER wave_credits_delete_cover
    AFTER DELETE ON relayer.wave_credits REFERENCING OLD TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION relayer.wave_credits_cover_written();

CREATE FUNCTION relayer.credits_leave_pending_covered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM relayer.check_credit_parts(ARRAY(SELECT id FROM written WHERE state <> 'pending'));
    RETURN NULL;
END;
$$;

CREATE TRIGGER credits_leave_pending_covered
    AFTER UPDATE ON credits.credits REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION relayer.credits_leave_pending_covered();

-- 2. A wave stored but never published is rebuilt when the chain no longer allows its amount
--    (MoneyWave's dailyCap lowered, or PMC's MAX_SUPPLY − totalSupply below it) and no
--    transaction of it can still be mined. The abandoned wave is deleted with its leaves, tree
--    and parts (its credits return to `pending` in the same transaction); this table keeps what
--    it was and why it went.
CREATE TABLE relayer.wave_rebuilds (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day             BIGINT NOT NULL,
    -- The abandoned wave as it was stored.
    status          TEXT NOT NULL CONSTRAINT wave_rebuilds_status_unpublished CHECK (status IN ('built', 'submitted')),
    amount          NUMERIC(78, 0) NOT NULL,
    cap             NUMERIC(78, 0) NOT NULL,
    root            BYTEA NOT NULL CONSTRAINT wave_rebuilds_root_is_word CHECK (length(root) = 32),
    allocation_hash BYTEA NOT NULL CONSTRAINT wave_rebuilds_allocation_hash_is_word CHECK (length(allocation_hash) = 32),
    credit_count    INTEGER NOT NULL,
    built_at        TIMESTAMPTZ NOT NULL,
    -- What the chain allowed when it was abandoned (the amount exceeded the smaller of the two).
    daily_cap       NUMERIC(78, 0) NOT NULL,
    supply_headroom NUMERIC(78, 0) NOT NULL,
    rebuilt_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT wave_rebuilds_amount_was_over CHECK (amount > LEAST(daily_cap, supply_headroom))
);
CREATE INDEX wave_rebuilds_by_day ON relayer.wave_rebuilds (day, id);
