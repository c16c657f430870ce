-- The PMP ledger (DESIGN.md E1, E2): double-entry accounts, transfers and postings.
--
-- Every movement of PMP is one transfer whose postings sum to zero, written in one transaction
-- by the API's `ledger` module (the only writer). Each account carries a cached balance that the
-- writer updates under a row lock; the constraint below makes a negative cached balance
-- impossible. The issuance account carries the other side of every grant, so it has no cached
-- balance (NULL): its balance is the negated sum of all others, and it is never a hot row.
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.accounts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- user: a citizen's points; issuance: the source of every grant and reward (may go negative);
    -- burn: where consumed stakes go; game_escrow: stakes locked in a game; campaign_budget: a
    -- sponsored campaign's remaining budget.
    kind         TEXT NOT NULL
        CONSTRAINT accounts_kind_known
        CHECK (kind IN ('user', 'issuance', 'burn', 'game_escrow', 'campaign_budget')),
    -- The user, game or campaign the account belongs to; the nil UUID for singleton accounts.
    reference_id UUID NOT NULL,
    balance      BIGINT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT accounts_kind_reference_unique UNIQUE (kind, reference_id),
    CONSTRAINT accounts_singletons_have_nil_reference
        CHECK ((kind IN ('issuance', 'burn')) = (reference_id = '00000000-0000-0000-0000-000000000000')),
    CONSTRAINT accounts_only_issuance_is_uncached CHECK ((kind = 'issuance') = (balance IS NULL)),
    -- E1: no cached balance is ever negative.
    CONSTRAINT accounts_balance_non_negative CHECK (balance >= 0)
);

INSERT INTO ledger.accounts (kind, reference_id, balance) VALUES
    ('issuance', '00000000-0000-0000-0000-000000000000', NULL),
    ('burn', '00000000-0000-0000-0000-000000000000', 0);

CREATE TABLE ledger.transfers (
    id              UUID PRIMARY KEY,
    -- What the movement is (signup_grant, user_transfer, stake, stake_refund, …).
    kind            TEXT NOT NULL CONSTRAINT transfers_kind_shape CHECK (kind ~ '^[a-z][a-z_]{0,62}$'),
    -- The business object it belongs to: game, campaign, post, user, …
    reference_kind  TEXT NOT NULL CONSTRAINT transfers_reference_kind_shape CHECK (reference_kind ~ '^[a-z][a-z_]{0,62}$'),
    reference_id    UUID NOT NULL,
    -- Internal idempotency: a feature that may retry passes a key naming the business event
    -- (e.g. "signup:<user id>"); a second transfer with the same key is the same transfer.
    idempotency_key TEXT CONSTRAINT transfers_idempotency_key_unique UNIQUE,
    memo            TEXT CONSTRAINT transfers_memo_length CHECK (char_length(memo) <= 280),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE ledger.postings (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id   UUID NOT NULL REFERENCES ledger.transfers (id),
    account_id    BIGINT NOT NULL REFERENCES ledger.accounts (id),
    amount        BIGINT NOT NULL CONSTRAINT postings_amount_non_zero CHECK (amount <> 0),
    -- The account's balance right after this posting (NULL for the uncached issuance account).
    balance_after BIGINT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX postings_account_history ON ledger.postings (account_id, id DESC);
CREATE INDEX postings_transfer ON ledger.postings (transfer_id);

-- Postings and transfers are history: append-only.
CREATE FUNCTION ledger.refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger history is append-only: % on %.% is refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_rewrite();

-- E1 proofs. Each view is empty when the ledger is exact.
-- Transfers whose postings do not sum to zero, or that have fewer than two postings.
CREATE VIEW ledger.unbalanced_transfers AS
SELECT t.id AS transfer_id, COALESCE(SUM(p.amount), 0)::BIGINT AS sum, COUNT(p.id) AS postings
FROM ledger.transfers t
LEFT JOIN ledger.postings p ON p.transfer_id = t.id
GROUP BY t.id
HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.id) < 2;

-- Accounts whose cached balance differs from the sum of their postings.
CREATE VIEW ledger.balance_mismatches AS
SELECT a.id AS account_id, a.kind, a.reference_id, a.balance AS cached,
       COALESCE(s.sum, 0)::BIGINT AS posted
FROM ledger.accounts a
LEFT JOIN (SELECT account_id, SUM(amount) AS sum FROM ledger.postings GROUP BY account_id) s
       ON s.account_id = a.id
WHERE a.balance IS NOT NULL AND a.balance <> COALESCE(s.sum, 0);

-- One row: the sum of all postings (must be 0), and the counts of the two views above.
CREATE FUNCTION ledger.check_zero_sum()
RETURNS TABLE (postings_sum NUMERIC, unbalanced_transfers BIGINT, balance_mismatches BIGINT, negative_balances BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT COALESCE(SUM(amount), 0) FROM ledger.postings),
           (SELECT COUNT(*) FROM ledger.unbalanced_transfers),
           (SELECT COUNT(*) FROM ledger.balance_mismatches),
           (SELECT COUNT(*) FROM ledger.accounts WHERE balance < 0)
$$;

-- HTTP idempotency (api/src/idempotency.rs), shared by every route that moves value (PMP
-- transfers today; prediction stakes and others later). A key is scoped to the user who sent
-- it; the row is written in the same transaction as the effect, so a key either names a
-- committed effect and its response, or nothing.
CREATE TABLE ledger.idempotency_keys (
    user_id       UUID NOT NULL,
    key           TEXT NOT NULL CONSTRAINT idempotency_keys_key_shape CHECK (char_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path, user and body.
    request_hash  BYTEA NOT NULL,
    status        SMALLINT,
    response_body BYTEA,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
