-- Local League credits and PMC debts (DESIGN.md I2, E3).
--
-- A store payment earns its payer a PMC credit (amount × the store's rate at payment time × the
-- PMC per KRW in force that day). invest.store_credits keeps, per payment, the rates used and
-- the PMC the payment still earns (`entitled`), so a refund takes back exactly its share with
-- the same rates. Taking back a credit no wave carries revokes it; PMC already in a wave cannot
-- be taken back, so the difference becomes a debt.
--
-- credits.debt_events is a small ledger of PMC a citizen owes: + when a debt is incurred, −
-- when a later credit repays it (that credit is issued net of the repayment, so the repaid
-- part never reaches a wave). credits.debts caches each citizen's outstanding total; the audit
-- (economy::credits::debts::audit) proves the cache equals the events and never goes negative.
CREATE TABLE credits.debts (
    user_id      UUID PRIMARY KEY REFERENCES auth.users (id),
    outstanding  NUMERIC(78, 0) NOT NULL CONSTRAINT debts_outstanding_non_negative CHECK (outstanding >= 0),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE credits.debt_events (
    id               UUID PRIMARY KEY,
    user_id          UUID NOT NULL REFERENCES auth.users (id),
    -- Wei: positive when incurred, negative when repaid.
    amount           NUMERIC(78, 0) NOT NULL CONSTRAINT debt_events_amount_nonzero CHECK (amount <> 0),
    -- Names the business event ("payment:<id>:refunded:<total>:debt", "<credit key>:repay").
    idempotency_key  TEXT NOT NULL CONSTRAINT debt_events_key_unique UNIQUE
        CONSTRAINT debt_events_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 300),
    reference_kind   TEXT NOT NULL CONSTRAINT debt_events_reference_kind_shape CHECK (reference_kind ~ '^[a-z][a-z_]{0,62}$'),
    reference_id     UUID NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX debt_events_user ON credits.debt_events (user_id, created_at);

CREATE TABLE invest.store_credits (
    payment_id   UUID PRIMARY KEY REFERENCES invest.payments (id),
    user_id      UUID NOT NULL REFERENCES auth.users (id),
    -- The store's rate at payment time, in basis points, and the economy's PMC per KRW that day.
    rate_bp      INTEGER NOT NULL CONSTRAINT store_credits_rate_range CHECK (rate_bp BETWEEN 0 AND 10000),
    pmc_per_krw  NUMERIC(24, 9) NOT NULL CONSTRAINT store_credits_pmc_per_krw_positive CHECK (pmc_per_krw > 0),
    -- Wei the payment still earns (what is left of it after refunds, converted at the rates above).
    entitled     NUMERIC(78, 0) NOT NULL CONSTRAINT store_credits_entitled_non_negative CHECK (entitled >= 0),
    -- The pending credit carrying it, while one does (none once in a wave's hands is still
    -- named; none when a debt took it all).
    credit_id    UUID REFERENCES credits.credits (id),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Roles (README "Database roles"): the API issues and takes back these credits and debts; the
-- relayer reads nothing here (credits are issued net of repayments).
GRANT SELECT, INSERT, UPDATE (outstanding, updated_at) ON credits.debts TO posmul_api;
GRANT SELECT, INSERT ON credits.debt_events TO posmul_api;
GRANT SELECT, INSERT, UPDATE (entitled, credit_id, updated_at) ON invest.store_credits TO posmul_api;

-- Accepted webhook signatures are kept only as long as a replay could still pass the
-- timestamp tolerance; the API prunes older ones (invest::payments::prune_signatures).
CREATE INDEX webhook_signatures_received ON invest.webhook_signatures (received_at);
GRANT DELETE ON invest.webhook_signatures TO posmul_api;
