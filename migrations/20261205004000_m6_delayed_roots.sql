-- Delayed roots (docs/DESIGN.md M6): the indexer mirrors MoneyWave's RootPending, RootRevoked and
-- RootDelayChanged like the other events (final at the chain's finality, deleted above a reorg's
-- fork); the relayer records when each wave's root becomes claimable and every wave a guardian's
-- revocation took off the chain.

-- MoneyWave RootPending(day, root, firstDay, claimableAt): emitted with every WavePublished.
CREATE TABLE chain.root_pending (
    chain_id      BIGINT      NOT NULL,
    block_number  BIGINT      NOT NULL,
    block_hash    BYTEA       NOT NULL,
    tx_hash       BYTEA       NOT NULL,
    log_index     INTEGER     NOT NULL,
    finalized     BOOLEAN     NOT NULL,
    day           BIGINT      NOT NULL,
    root          BYTEA       NOT NULL,
    first_day     BIGINT      NOT NULL,
    claimable_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX root_pending_block ON chain.root_pending (chain_id, block_number);
CREATE INDEX root_pending_day ON chain.root_pending (chain_id, day);

-- MoneyWave RootRevoked(firstDay, lastDay, root, burned, account): days first_day .. last_day
-- were unpublished by the guardian `account` and `burned` PMC burnt.
CREATE TABLE chain.root_revocations (
    chain_id      BIGINT        NOT NULL,
    block_number  BIGINT        NOT NULL,
    block_hash    BYTEA         NOT NULL,
    tx_hash       BYTEA         NOT NULL,
    log_index     INTEGER       NOT NULL,
    finalized     BOOLEAN       NOT NULL,
    first_day     BIGINT        NOT NULL,
    last_day      BIGINT        NOT NULL,
    root          BYTEA         NOT NULL,
    burned        NUMERIC(78,0) NOT NULL,
    account       BYTEA         NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX root_revocations_block ON chain.root_revocations (chain_id, block_number);
CREATE INDEX root_revocations_root ON chain.root_revocations (chain_id, root);

-- MoneyWave RootDelayChanged(previousDelay, newDelay), in seconds.
CREATE TABLE chain.root_delay_changes (
    chain_id        BIGINT        NOT NULL,
    block_number    BIGINT        NOT NULL,
    block_hash      BYTEA         NOT NULL,
    tx_hash         BYTEA         NOT NULL,
    log_index       INTEGER       NOT NULL,
    finalized       BOOLEAN       NOT NULL,
    previous_delay  NUMERIC(78,0) NOT NULL,
    new_delay       NUMERIC(78,0) NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX root_delay_changes_block ON chain.root_delay_changes (chain_id, block_number);

CREATE OR REPLACE FUNCTION chain.mark_finalized(p_chain BIGINT, p_from BIGINT, p_to BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chain.blocks SET finalized = true
     WHERE chain_id = p_chain AND number > p_from AND number <= p_to AND NOT finalized;
    UPDATE chain.pmc_transfers SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.pmc_delegate_changes SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.pmc_delegate_votes SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.waves_published SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.wave_claims SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.wave_cap_changes SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.pause_changes SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.role_changes SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.donation_recipients SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.donations SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.root_pending SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.root_revocations SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
    UPDATE chain.root_delay_changes SET finalized = true
     WHERE chain_id = p_chain AND block_number > p_from AND block_number <= p_to AND NOT finalized;
END
$$;

CREATE OR REPLACE FUNCTION chain.rollback_above(p_chain BIGINT, p_fork BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    n BIGINT;
    c BIGINT;
BEGIN
    SELECT count(*) INTO n FROM chain.pmc_transfers WHERE chain_id = p_chain AND block_number > p_fork;
    -- The addresses touched above the fork are exactly those whose last_block is above it.
    WITH gone AS (
        DELETE FROM chain.pmc_transfers
         WHERE chain_id = p_chain AND block_number > p_fork
        RETURNING from_address, to_address, value
    ), deltas AS (
        SELECT address, sum(delta) AS delta
          FROM (SELECT to_address AS address, value AS delta FROM gone
                UNION ALL
                SELECT from_address, -value FROM gone) sides
         WHERE address <> '\x0000000000000000000000000000000000000000'::bytea
         GROUP BY address
    )
    UPDATE chain.pmc_balances b
       SET balance = b.balance - d.delta
      FROM deltas d
     WHERE b.chain_id = p_chain AND b.address = d.address;
    UPDATE chain.pmc_balances b
       SET last_block = coalesce(greatest(
               (SELECT max(t.block_number) FROM chain.pmc_transfers t
                 WHERE t.chain_id = p_chain AND t.from_address = b.address),
               (SELECT max(t.block_number) FROM chain.pmc_transfers t
                 WHERE t.chain_id = p_chain AND t.to_address = b.address)), -1)
     WHERE b.chain_id = p_chain AND b.last_block > p_fork;
    DELETE FROM chain.pmc_balances WHERE chain_id = p_chain AND last_block = -1;

    DELETE FROM chain.pmc_delegate_changes WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.pmc_delegate_votes WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.waves_published WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.wave_claims WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.wave_cap_changes WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.pause_changes WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.role_changes WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.donation_recipients WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.donations WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.root_pending WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.root_revocations WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.root_delay_changes WHERE chain_id = p_chain AND block_number > p_fork;
    GET DIAGNOSTICS c = ROW_COUNT; n := n + c;
    DELETE FROM chain.blocks WHERE chain_id = p_chain AND number > p_fork;
    RETURN n;
END
$$;

-- When the wave's root becomes claimable (its RootPending's claimableAt), set with the receipt.
-- NULL for a wave not on chain, and for waves mined before this column existed (root delay 0).
ALTER TABLE relayer.waves ADD COLUMN claimable_at TIMESTAMPTZ;

-- Waves a guardian's revokePendingRoot took off the chain (M6). The relayer deletes the wave
-- with its leaves, tree and parts (its credits return to `pending` in the same transaction, as
-- for a rebuild, M8) and builds the day again; this table keeps what it was and the revocation.
CREATE TABLE relayer.wave_revocations (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day             BIGINT NOT NULL,
    -- The revoked wave as it was stored: on chain (mined, finalized), or built above the revoked
    -- run and never published (built, submitted; no tx_hash).
    status          TEXT NOT NULL CONSTRAINT wave_revocations_status_known CHECK (status IN ('built', 'submitted', 'mined', 'finalized')),
    amount          NUMERIC(78, 0) NOT NULL,
    root            BYTEA NOT NULL CONSTRAINT wave_revocations_root_is_word CHECK (length(root) = 32),
    allocation_hash BYTEA NOT NULL CONSTRAINT wave_revocations_allocation_hash_is_word CHECK (length(allocation_hash) = 32),
    credit_count    INTEGER NOT NULL,
    tx_hash         BYTEA,
    claimable_at    TIMESTAMPTZ,
    -- The RootRevoked event: the revoked run, its root (the last day's), and the guardian.
    revoked_tx      BYTEA NOT NULL,
    revoked_root    BYTEA NOT NULL CONSTRAINT wave_revocations_revoked_root_is_word CHECK (length(revoked_root) = 32),
    first_day       BIGINT NOT NULL,
    last_day        BIGINT NOT NULL,
    guardian        BYTEA NOT NULL CONSTRAINT wave_revocations_guardian_is_address CHECK (length(guardian) = 20),
    revoked_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT wave_revocations_day_from_run CHECK (day >= first_day)
);
CREATE INDEX wave_revocations_by_day ON relayer.wave_revocations (day, id);

-- The first day of the pending run the wave's RootPending named: a later wave whose run starts at
-- or before a wave's day replaced that wave's root before it matured (it never became current).
ALTER TABLE relayer.waves ADD COLUMN pending_first_day BIGINT;

-- The day of the wave whose root MoneyWave's `currentRoot` is at `p_now` (M6), as far as the
-- database knows: the latest wave on chain whose delay has passed (`claimable_at` NULL: mined
-- before delayed roots were recorded), that no later wave replaced while it was pending, and that
-- no mirrored revocation after it took off. NULL while there is none. Economy's wave read side
-- asks it for both the proof and the standing, so they always name the same wave.
CREATE FUNCTION relayer.claimable_wave_day(p_chain BIGINT, p_now TIMESTAMPTZ)
RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT w.day FROM relayer.waves w
     WHERE w.chain_id = p_chain AND w.status IN ('mined', 'finalized')
       AND (w.claimable_at IS NULL OR w.claimable_at <= p_now)
       AND NOT EXISTS (SELECT 1 FROM relayer.waves l
                        WHERE l.chain_id = p_chain AND l.status IN ('mined', 'finalized')
                          AND l.day > w.day AND l.pending_first_day <= w.day)
       AND NOT EXISTS (SELECT 1 FROM chain.root_revocations r
                        WHERE r.chain_id = p_chain AND w.day BETWEEN r.first_day AND r.last_day
                          AND r.block_number >= w.block_number)
     ORDER BY w.day DESC LIMIT 1
$$;

-- Grants (migrations/20261205002000_database_roles.sql): the mirror's new tables are the
-- indexer's to write and everyone's to read; the revocations are the relayer's.
GRANT SELECT, INSERT, UPDATE, DELETE ON chain.root_pending, chain.root_revocations, chain.root_delay_changes
    TO posmul_indexer;
GRANT SELECT ON chain.root_pending, chain.root_revocations, chain.root_delay_changes
    TO posmul_relayer, posmul_api;
GRANT SELECT, INSERT ON relayer.wave_revocations TO posmul_relayer;
GRANT SELECT ON relayer.wave_revocations TO posmul_api;
