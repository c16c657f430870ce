-- Payments (DESIGN.md I4, E4): the investment domain's KRW payments through a provider, the
-- webhook events and signatures it has seen. Written by the API's invest domain only; the money
-- itself moves in the ledger (provider clearing → the payment's target account).
CREATE SCHEMA IF NOT EXISTS invest;

CREATE TABLE invest.payments (
    id                  UUID PRIMARY KEY,
    -- The citizen who pays.
    user_id             UUID NOT NULL REFERENCES auth.users (id),
    provider            TEXT NOT NULL CONSTRAINT payments_provider_known CHECK (provider IN ('dev', 'stripe', 'toss')),
    -- The provider's id: Stripe's payment intent, Toss's order id (ours), the dev provider's.
    provider_payment_id TEXT NOT NULL CONSTRAINT payments_provider_payment_id_shape
        CHECK (char_length(provider_payment_id) BETWEEN 1 AND 200),
    -- Toss's payment key, known once the client has approved and the server confirmed.
    provider_payment_key TEXT CONSTRAINT payments_provider_payment_key_shape
        CHECK (char_length(provider_payment_key) BETWEEN 1 AND 200),
    -- What the payment is for: the ledger account that receives it when paid (E4).
    target_kind         TEXT NOT NULL CONSTRAINT payments_target_kind_known
        CHECK (target_kind IN ('krw_merchant_payable', 'krw_escrow')),
    target_id           UUID NOT NULL,
    -- Whole won (E4).
    amount              BIGINT NOT NULL CONSTRAINT payments_amount_positive CHECK (amount > 0),
    refunded            BIGINT NOT NULL DEFAULT 0,
    state               TEXT NOT NULL DEFAULT 'created' CONSTRAINT payments_state_known
        CHECK (state IN ('created', 'paid', 'failed', 'cancelled', 'partially_refunded', 'refunded')),
    -- Given to the client to finish the payment (Stripe's client secret); never logged.
    client_secret       TEXT,
    description         TEXT NOT NULL CONSTRAINT payments_description_length CHECK (char_length(description) <= 200),
    created_at          TIMESTAMPTZ NOT NULL,
    paid_at             TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT payments_provider_payment_unique UNIQUE (provider, provider_payment_id),
    CONSTRAINT payments_refunded_within_amount CHECK (refunded BETWEEN 0 AND amount),
    -- The refunded total agrees with the state.
    CONSTRAINT payments_refunded_matches_state CHECK (
        (state IN ('created', 'paid', 'failed', 'cancelled') AND refunded = 0)
        OR (state = 'partially_refunded' AND refunded > 0 AND refunded < amount)
        OR (state = 'refunded' AND refunded = amount)),
    CONSTRAINT payments_paid_at_when_paid CHECK ((state IN ('created', 'failed', 'cancelled')) = (paid_at IS NULL))
);
CREATE INDEX payments_user ON invest.payments (user_id, created_at DESC);

-- A payment only moves forward (I4): the database refuses a move the domain's transition
-- function would refuse, whatever the code above it does.
CREATE FUNCTION invest.payment_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = OLD.state AND NEW.refunded = OLD.refunded THEN
        RETURN NEW;
    END IF;
    IF (OLD.state, NEW.state) IN (('created', 'paid'), ('created', 'failed'), ('created', 'cancelled'),
                                  ('paid', 'partially_refunded'), ('paid', 'refunded'),
                                  ('partially_refunded', 'partially_refunded'), ('partially_refunded', 'refunded'))
       AND NEW.refunded >= OLD.refunded AND NEW.amount = OLD.amount THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'payment % cannot move from % to %', OLD.id, OLD.state, NEW.state
        USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER payments_move_forward BEFORE UPDATE ON invest.payments
    FOR EACH ROW EXECUTE FUNCTION invest.payment_moves_forward();

-- Every verified webhook event, once per (provider, event id): a duplicate finds its row and
-- changes nothing. `outcome` says what the event did (applied, ignored as out of order, …).
CREATE TABLE invest.webhook_events (
    provider            TEXT NOT NULL,
    event_id            TEXT NOT NULL CONSTRAINT webhook_events_event_id_shape CHECK (char_length(event_id) BETWEEN 1 AND 255),
    provider_payment_id TEXT NOT NULL,
    payment_id          UUID REFERENCES invest.payments (id),
    event_type          TEXT NOT NULL,
    outcome             TEXT NOT NULL,
    received_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

-- The SHA-256 of every accepted webhook signature: the same signature twice is a replay. Rows
-- older than the timestamp tolerance could be pruned (a replay that old is refused as stale).
CREATE TABLE invest.webhook_signatures (
    provider       TEXT NOT NULL,
    signature_hash BYTEA NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, signature_hash)
);

-- Roles (README "Database roles"): the API writes the domain; the indexer and the relayer
-- have nothing to do with payments.
GRANT USAGE ON SCHEMA invest TO posmul_api;
GRANT SELECT, INSERT ON invest.payments, invest.webhook_events, invest.webhook_signatures TO posmul_api;
GRANT UPDATE (provider_payment_key, refunded, state, paid_at, updated_at) ON invest.payments TO posmul_api;
