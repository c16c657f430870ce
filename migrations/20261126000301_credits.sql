-- PMC credits (DESIGN.md E3, M3): PMC earned off-chain that is not yet on chain.
--
-- A credit is one earning event (a prediction win, a Local League payment, a Cloud Funding
-- contribution) of a user, in wei, on a UTC day. It is double-entry like PMP: issuing a credit
-- posts -amount on the system credit-issuance account and +amount on the user's credit account,
-- so the sum of all credit postings is zero (E1). Its state then follows the Money Wave:
-- pending -> in_wave (wave_day set by the relayer, M3/M4) -> claimed (mirrored from the chain).
-- State changes move no value: the user's credit account is the total ever credited.
CREATE SCHEMA IF NOT EXISTS credits;

CREATE TABLE credits.accounts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- user: a citizen's credits; issuance: the other side of every credit (may go negative).
    kind         TEXT NOT NULL CONSTRAINT accounts_kind_known CHECK (kind IN ('user', 'issuance')),
    reference_id UUID NOT NULL,
    -- In wei; NULL (uncached) for the issuance account, whose balance is minus all others.
    balance      NUMERIC(78, 0),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT accounts_kind_reference_unique UNIQUE (kind, reference_id),
    CONSTRAINT accounts_issuance_is_singleton
        CHECK (kind <> 'issuance' OR reference_id = '00000000-0000-0000-0000-000000000000'),
    CONSTRAINT accounts_only_issuance_is_uncached CHECK ((kind = 'issuance') = (balance IS NULL)),
    CONSTRAINT accounts_balance_non_negative CHECK (balance >= 0)
);

INSERT INTO credits.accounts (kind, reference_id, balance)
VALUES ('issuance', '00000000-0000-0000-0000-000000000000', NULL);

CREATE TABLE credits.credits (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL,
    source          TEXT NOT NULL
        CONSTRAINT credits_source_known CHECK (source IN ('prediction_win', 'local_payment', 'cloud_funding')),
    amount          NUMERIC(78, 0) NOT NULL CONSTRAINT credits_amount_positive CHECK (amount > 0),
    -- The UTC day the credit was earned; wave `day` gathers the credits of that day (M3).
    day             DATE NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT credits_state_known CHECK (state IN ('pending', 'in_wave', 'claimed')),
    -- The wave the credit landed in (the relayer sets it; later than `day` when carried over).
    wave_day        DATE,
    claimed_at      TIMESTAMPTZ,
    reference_kind  TEXT NOT NULL CONSTRAINT credits_reference_kind_shape CHECK (reference_kind ~ '^[a-z][a-z_]{0,62}$'),
    reference_id    UUID NOT NULL,
    idempotency_key TEXT NOT NULL CONSTRAINT credits_idempotency_key_unique UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT credits_wave_matches_state CHECK ((state = 'pending') = (wave_day IS NULL)),
    CONSTRAINT credits_wave_not_before_day CHECK (wave_day IS NULL OR wave_day >= day),
    CONSTRAINT credits_claimed_matches_state CHECK ((state = 'claimed') = (claimed_at IS NOT NULL))
);
CREATE INDEX credits_user_history ON credits.credits (user_id, created_at DESC, id DESC);
CREATE INDEX credits_pending_by_day ON credits.credits (day, created_at, id) WHERE state = 'pending';

CREATE TABLE credits.postings (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    credit_id  UUID NOT NULL REFERENCES credits.credits (id),
    account_id BIGINT NOT NULL REFERENCES credits.accounts (id),
    amount     NUMERIC(78, 0) NOT NULL CONSTRAINT postings_amount_non_zero CHECK (amount <> 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX postings_account ON credits.postings (account_id, id DESC);
CREATE INDEX postings_credit ON credits.postings (credit_id);

CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON credits.postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();

-- E1 proofs for credits; each view is empty when exact.
CREATE VIEW credits.unbalanced_credits AS
SELECT c.id AS credit_id, c.amount, COALESCE(SUM(p.amount), 0) AS sum,
       COALESCE(SUM(p.amount) FILTER (WHERE p.amount > 0), 0) AS credited
FROM credits.credits c
LEFT JOIN credits.postings p ON p.credit_id = c.id
GROUP BY c.id, c.amount
HAVING COALESCE(SUM(p.amount), 0) <> 0
    OR COALESCE(SUM(p.amount) FILTER (WHERE p.amount > 0), 0) <> c.amount;

CREATE VIEW credits.balance_mismatches AS
SELECT a.id AS account_id, a.kind, a.reference_id, a.balance AS cached, COALESCE(s.sum, 0) AS posted
FROM credits.accounts a
LEFT JOIN (SELECT account_id, SUM(amount) AS sum FROM credits.postings GROUP BY account_id) s
       ON s.account_id = a.id
WHERE a.balance IS NOT NULL AND a.balance <> COALESCE(s.sum, 0);

CREATE FUNCTION credits.check_zero_sum()
RETURNS TABLE (postings_sum NUMERIC, unbalanced_credits BIGINT, balance_mismatches BIGINT, negative_balances BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT COALESCE(SUM(amount), 0) FROM credits.postings),
           (SELECT COUNT(*) FROM credits.unbalanced_credits),
           (SELECT COUNT(*) FROM credits.balance_mismatches),
           (SELECT COUNT(*) FROM credits.accounts WHERE balance < 0)
$$;
