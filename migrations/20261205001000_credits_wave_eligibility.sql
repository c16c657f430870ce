-- P6: a settlement's credits join waves only after its dispute window, and a correction within
-- the window revokes the credits it replaces (E3: only a credit that has not joined a wave can
-- be revoked).
--
-- wave_eligible_at: the earliest time a wave may take the credit (NULL: at once). The issuer
-- sets it (predictions: the settlement's time plus the dispute window, on the API's clock);
-- the relayer passes its "now" when it gathers candidates.
-- revoked: a pending credit taken back before any wave carried any part of it (M8). Its two
-- postings are reversed by two more (user -amount, issuance +amount), so E1 still holds and the
-- user's credit account, the total ever credited, no longer counts it.
ALTER TABLE credits.credits
    ADD COLUMN wave_eligible_at TIMESTAMPTZ,
    ADD COLUMN revoked_at TIMESTAMPTZ;

ALTER TABLE credits.credits
    DROP CONSTRAINT credits_state_known,
    ADD CONSTRAINT credits_state_known CHECK (state IN ('pending', 'in_wave', 'claimed', 'revoked')),
    DROP CONSTRAINT credits_wave_matches_state,
    ADD CONSTRAINT credits_wave_matches_state CHECK ((state IN ('pending', 'revoked')) = (wave_day IS NULL)),
    ADD CONSTRAINT credits_revoked_matches_state CHECK ((state = 'revoked') = (revoked_at IS NOT NULL));

-- E1 proof: a credit's postings sum to zero, and its positive postings are its amount once
-- (twice for a revoked credit: the issuance and the reversal's issuance side).
CREATE OR REPLACE VIEW credits.unbalanced_credits AS
SELECT c.id AS credit_id, c.amount, COALESCE(SUM(p.amount), 0) AS sum,
       COALESCE(SUM(p.amount) FILTER (WHERE p.amount > 0), 0) AS credited
FROM credits.credits c
LEFT JOIN credits.postings p ON p.credit_id = c.id
GROUP BY c.id, c.amount
HAVING COALESCE(SUM(p.amount), 0) <> 0
    OR COALESCE(SUM(p.amount) FILTER (WHERE p.amount > 0), 0)
       <> CASE WHEN c.state = 'revoked' THEN 2 * c.amount ELSE c.amount END;

-- M8's parts: a revoked credit has no part in any wave (checked with the other states after every
-- statement that writes credits.credits or relayer.wave_credits, by the triggers of
-- 20261128000400_relayer_wave_credit_parts.sql, which call this function).
CREATE OR REPLACE FUNCTION relayer.check_credit_parts(ids UUID[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bad RECORD;
BEGIN
    SELECT c.id, c.amount, c.state, COALESCE(p.parts, 0) AS parts INTO bad
      FROM credits.credits c
      LEFT JOIN (SELECT credit_id, sum(amount) AS parts FROM relayer.wave_credits
                  WHERE credit_id = ANY (ids) GROUP BY credit_id) p ON p.credit_id = c.id
     WHERE c.id = ANY (ids)
       AND (COALESCE(p.parts, 0) > c.amount
            OR (c.state = 'revoked' AND COALESCE(p.parts, 0) <> 0)
            OR (c.state NOT IN ('pending', 'revoked') AND COALESCE(p.parts, 0) <> c.amount))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'credit % of % wei in state % has % wei in waves', bad.id, bad.amount, bad.state, bad.parts
            USING ERRCODE = 'check_violation', CONSTRAINT = 'wave_credits_cover_their_credit';
    END IF;
END;
$$;
