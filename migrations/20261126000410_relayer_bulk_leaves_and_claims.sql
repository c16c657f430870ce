-- The Money Wave relayer, second part (the wave benchmark, E3 "claimed").
--
-- 1. wave_leaves.day -> waves.day is checked once per statement instead of once per row.
--    A wave stores one leaf per address ever credited (1,000,000 rows in the benchmark), all
--    with one COPY in the transaction that inserts the wave; the row-level foreign-key trigger
--    spent about 4 s of that COPY on 1M lookups of the same wave row. The same guarantee is kept
--    by triggers: a statement that inserts or updates leaves fails unless every day it wrote
--    has a wave (one anti-join over the statement's transition table), and a wave that still
--    has leaves can neither be deleted nor change its day (RESTRICT, as the foreign key did).
ALTER TABLE relayer.wave_leaves DROP CONSTRAINT wave_leaves_day_fkey;

CREATE FUNCTION relayer.wave_leaves_have_waves() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    orphan BIGINT;
BEGIN
    SELECT n.day INTO orphan
      FROM (SELECT DISTINCT day FROM written) n
     WHERE NOT EXISTS (SELECT 1 FROM relayer.waves w WHERE w.day = n.day)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'relayer.wave_leaves: wave % does not exist', orphan
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'wave_leaves_day_fkey';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER wave_leaves_insert_have_waves
    AFTER INSERT ON relayer.wave_leaves REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION relayer.wave_leaves_have_waves();
CREATE TRIGGER wave_leaves_update_have_waves
    AFTER UPDATE ON relayer.wave_leaves REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION relayer.wave_leaves_have_waves();

CREATE FUNCTION relayer.waves_keep_their_leaves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.day <> OLD.day)
       AND EXISTS (SELECT 1 FROM relayer.wave_leaves WHERE day = OLD.day) THEN
        RAISE EXCEPTION 'relayer.waves: wave % still has leaves', OLD.day
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'wave_leaves_day_fkey';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;

CREATE TRIGGER waves_keep_their_leaves
    BEFORE DELETE OR UPDATE OF day ON relayer.waves
    FOR EACH ROW EXECUTE FUNCTION relayer.waves_keep_their_leaves();

-- 2. Credits turn `claimed` when the chain's claimed cumulative amount of their address covers
--    them (relayer::claims::mark_claimed_credits): the credits of an address in wave order.
CREATE INDEX wave_credits_by_address ON relayer.wave_credits (address, day);
