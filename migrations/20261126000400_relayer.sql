-- The Money Wave relayer (docs/DESIGN.md M1, M3, M4, M5).
--
-- economy_config: the admin-set, versioned economy configuration from which the daily budget
-- B(d) follows (M1). waves: one row per MoneyWave day with its persisted state machine
-- built -> submitted -> mined -> finalized. wave_credits: which wave (and which address) every
-- credit landed in; its primary key makes "every credit in exactly one wave" a constraint.
-- wave_leaves / wave_trees: each wave's cumulative allocation and its whole Merkle tree, from
-- which any proof is read. tx_attempts: every signed transaction, before it is broadcast.
CREATE SCHEMA IF NOT EXISTS relayer;

CREATE TABLE relayer.economy_config (
    version        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Annual EBIT expressed in PMC wei (the PMC the year's earnings fund).
    annual_ebit    NUMERIC(78, 0) NOT NULL CONSTRAINT economy_config_ebit_non_negative CHECK (annual_ebit >= 0),
    tax_rate       NUMERIC(12, 9) NOT NULL DEFAULT 0.495
        CONSTRAINT economy_config_tax_rate_range CHECK (tax_rate >= 0 AND tax_rate <= 1),
    interest_rate  NUMERIC(12, 9) NOT NULL DEFAULT 0
        CONSTRAINT economy_config_interest_rate_range CHECK (interest_rate >= 0 AND interest_rate <= 1),
    -- The first UTC day the version applies to (the day after it was set, M1).
    effective_from DATE NOT NULL,
    set_by         UUID NOT NULL,
    set_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    note           TEXT CONSTRAINT economy_config_note_length CHECK (char_length(note) <= 280),
    CONSTRAINT economy_config_rates_leave_earnings CHECK (tax_rate + interest_rate <= 1)
);
CREATE INDEX economy_config_by_day ON relayer.economy_config (effective_from DESC, version DESC);

CREATE TABLE relayer.waves (
    -- MoneyWave's day index: day 0 starts at the contract's genesis (a UTC midnight).
    day              BIGINT PRIMARY KEY CONSTRAINT waves_day_non_negative CHECK (day >= 0),
    -- The UTC date of that day (genesis date + day); credits of dates <= it are eligible.
    date             DATE NOT NULL UNIQUE,
    chain_id         BIGINT NOT NULL,
    money_wave       BYTEA NOT NULL CONSTRAINT waves_money_wave_is_address CHECK (length(money_wave) = 20),
    status           TEXT NOT NULL
        CONSTRAINT waves_status_known CHECK (status IN ('built', 'submitted', 'mined', 'finalized')),
    amount           NUMERIC(78, 0) NOT NULL CONSTRAINT waves_amount_non_negative CHECK (amount >= 0),
    total_cumulative NUMERIC(78, 0) NOT NULL,
    -- The on-chain cap in force when built, and B(d) of the economy config (M1).
    cap              NUMERIC(78, 0) NOT NULL,
    budget           NUMERIC(78, 0) NOT NULL,
    root             BYTEA NOT NULL CONSTRAINT waves_root_is_word CHECK (length(root) = 32),
    allocation_hash  BYTEA NOT NULL CONSTRAINT waves_allocation_hash_is_word CHECK (length(allocation_hash) = 32),
    leaf_count       INTEGER NOT NULL,
    credit_count     INTEGER NOT NULL,
    tx_hash          BYTEA,
    block_number     BIGINT,
    block_hash       BYTEA,
    gas_used         BIGINT,
    built_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    submitted_at     TIMESTAMPTZ,
    mined_at         TIMESTAMPTZ,
    finalized_at     TIMESTAMPTZ,
    CONSTRAINT waves_amount_within_cap CHECK (amount <= cap),
    CONSTRAINT waves_mined_has_receipt CHECK (status NOT IN ('mined', 'finalized') OR (tx_hash IS NOT NULL AND block_number IS NOT NULL))
);

CREATE TABLE relayer.wave_credits (
    credit_id UUID PRIMARY KEY REFERENCES credits.credits (id),
    day       BIGINT NOT NULL REFERENCES relayer.waves (day),
    address   BYTEA NOT NULL CONSTRAINT wave_credits_address_is_address CHECK (length(address) = 20),
    amount    NUMERIC(78, 0) NOT NULL
);
CREATE INDEX wave_credits_by_day ON relayer.wave_credits (day);

CREATE TABLE relayer.wave_leaves (
    day        BIGINT NOT NULL REFERENCES relayer.waves (day),
    address    BYTEA NOT NULL,
    cumulative NUMERIC(78, 0) NOT NULL,
    -- What this wave added to the address (0 for an address carried unchanged).
    increment  NUMERIC(78, 0) NOT NULL,
    tree_index INTEGER NOT NULL,
    PRIMARY KEY (day, address)
);

-- The node array of each wave's tree (32 bytes per node, root first, the layout of
-- @openzeppelin/merkle-tree). Stored uncompressed out of line so that a proof reads only the
-- slices it needs (substring on EXTERNAL storage).
CREATE TABLE relayer.wave_trees (
    day   BIGINT PRIMARY KEY REFERENCES relayer.waves (day),
    nodes BYTEA NOT NULL
);
ALTER TABLE relayer.wave_trees ALTER COLUMN nodes SET STORAGE EXTERNAL;

-- Every signed transaction, recorded before it is broadcast (so a crash never loses one).
CREATE TABLE relayer.tx_attempts (
    id                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- publish_wave (subject = the day) or claim_many (subject = the claim batch id).
    kind                     TEXT NOT NULL CONSTRAINT tx_attempts_kind_known CHECK (kind IN ('publish_wave', 'claim_many')),
    subject                  BIGINT NOT NULL,
    sender                   BYTEA NOT NULL,
    nonce                    BIGINT NOT NULL,
    tx_hash                  BYTEA NOT NULL UNIQUE,
    raw                      BYTEA NOT NULL,
    max_fee_per_gas          NUMERIC(78, 0) NOT NULL,
    max_priority_fee_per_gas NUMERIC(78, 0) NOT NULL,
    gas_limit                BIGINT NOT NULL,
    -- signed -> broadcast -> mined | replaced | failed | dropped
    status                   TEXT NOT NULL
        CONSTRAINT tx_attempts_status_known CHECK (status IN ('signed', 'broadcast', 'mined', 'replaced', 'failed', 'dropped')),
    error                    TEXT,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tx_attempts_by_subject ON relayer.tx_attempts (kind, subject, id);

-- Claims the relayer submits for users (POST /v1/me/pmc/claim-for-me), batched by claimMany.
CREATE TABLE relayer.claim_requests (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      UUID NOT NULL,
    address      BYTEA NOT NULL CONSTRAINT claim_requests_address_is_address CHECK (length(address) = 20),
    status       TEXT NOT NULL DEFAULT 'queued'
        CONSTRAINT claim_requests_status_known CHECK (status IN ('queued', 'submitted', 'done')),
    -- The claimMany batch (its first request's id) once submitted, and what it claimed.
    batch_id     BIGINT,
    cumulative   NUMERIC(78, 0),
    tx_hash      BYTEA,
    error        TEXT,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    done_at      TIMESTAMPTZ
);
-- One open request per address at a time.
CREATE UNIQUE INDEX claim_requests_one_open ON relayer.claim_requests (address) WHERE status IN ('queued', 'submitted');
CREATE INDEX claim_requests_by_status ON relayer.claim_requests (status, id);
