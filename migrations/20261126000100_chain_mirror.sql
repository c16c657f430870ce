-- The chain mirror, written only by posmul-indexer, read by the API and the relayer.
--
-- Every event row carries the block it came from (number and hash) and a `finalized` flag, and is
-- keyed by (chain_id, tx_hash, log_index). Rows above the indexer's cursor never exist; on a reorg
-- the indexer deletes every row above the fork point and reverses the balances in one transaction
-- (chain.rollback_above). Readers choose:
--   * latest:          every row;
--   * finalized only:  `WHERE finalized` (equivalently block_number <= cursors.finalized_block);
--   * balance at N:    chain.pmc_balance_at(chain_id, address, N) for N <= cursors.indexed_block.
-- Addresses and hashes are BYTEA (20 and 32 bytes), amounts NUMERIC(78,0) wei.

-- Blocks seen. Every block above the finalized block is kept (its hash and parent hash detect
-- reorgs); below it, the blocks that hold mirrored events and each batch's last block. parent_hash
-- is NULL for a finalized block known only from its logs.
CREATE TABLE chain.blocks (
    chain_id     BIGINT      NOT NULL,
    number       BIGINT      NOT NULL,
    hash         BYTEA       NOT NULL CHECK (octet_length(hash) = 32),
    parent_hash  BYTEA       CHECK (octet_length(parent_hash) = 32),
    "timestamp"  TIMESTAMPTZ NOT NULL,
    finalized    BOOLEAN     NOT NULL,
    PRIMARY KEY (chain_id, number)
);

-- The indexer's position, one row per chain. All events of blocks <= indexed_block are mirrored,
-- none above; rows of blocks <= finalized_block carry finalized = true.
CREATE TABLE chain.cursors (
    chain_id          BIGINT      PRIMARY KEY,
    pmc               BYTEA       NOT NULL CHECK (octet_length(pmc) = 20),
    money_wave        BYTEA       NOT NULL CHECK (octet_length(money_wave) = 20),
    donation_hub      BYTEA       NOT NULL CHECK (octet_length(donation_hub) = 20),
    deployment_block  BIGINT      NOT NULL,
    indexed_block     BIGINT      NOT NULL,
    indexed_hash      BYTEA       CHECK (octet_length(indexed_hash) = 32),
    finalized_block   BIGINT      NOT NULL,
    head_block        BIGINT      NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (finalized_block <= indexed_block)
);

-- PMC Transfer(from, to, value); from = 0x0 is a mint, to = 0x0 a burn.
CREATE TABLE chain.pmc_transfers (
    chain_id      BIGINT        NOT NULL,
    block_number  BIGINT        NOT NULL,
    block_hash    BYTEA         NOT NULL,
    tx_hash       BYTEA         NOT NULL,
    log_index     INTEGER       NOT NULL,
    finalized     BOOLEAN       NOT NULL,
    from_address  BYTEA         NOT NULL,
    to_address    BYTEA         NOT NULL,
    value         NUMERIC(78,0) NOT NULL CHECK (value >= 0),
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX pmc_transfers_block ON chain.pmc_transfers (chain_id, block_number);
-- "transfers of an address, newest first": one index per side, read with a UNION ALL.
CREATE INDEX pmc_transfers_from ON chain.pmc_transfers (chain_id, from_address, block_number DESC, log_index DESC);
CREATE INDEX pmc_transfers_to ON chain.pmc_transfers (chain_id, to_address, block_number DESC, log_index DESC);

-- PMC DelegateChanged(delegator, fromDelegate, toDelegate).
CREATE TABLE chain.pmc_delegate_changes (
    chain_id       BIGINT  NOT NULL,
    block_number   BIGINT  NOT NULL,
    block_hash     BYTEA   NOT NULL,
    tx_hash        BYTEA   NOT NULL,
    log_index      INTEGER NOT NULL,
    finalized      BOOLEAN NOT NULL,
    delegator      BYTEA   NOT NULL,
    from_delegate  BYTEA   NOT NULL,
    to_delegate    BYTEA   NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX pmc_delegate_changes_block ON chain.pmc_delegate_changes (chain_id, block_number);
CREATE INDEX pmc_delegate_changes_delegator ON chain.pmc_delegate_changes (chain_id, delegator, block_number DESC, log_index DESC);

-- PMC DelegateVotesChanged(delegate, previousVotes, newVotes).
CREATE TABLE chain.pmc_delegate_votes (
    chain_id        BIGINT        NOT NULL,
    block_number    BIGINT        NOT NULL,
    block_hash      BYTEA         NOT NULL,
    tx_hash         BYTEA         NOT NULL,
    log_index       INTEGER       NOT NULL,
    finalized       BOOLEAN       NOT NULL,
    delegate        BYTEA         NOT NULL,
    previous_votes  NUMERIC(78,0) NOT NULL,
    new_votes       NUMERIC(78,0) NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX pmc_delegate_votes_block ON chain.pmc_delegate_votes (chain_id, block_number);
CREATE INDEX pmc_delegate_votes_delegate ON chain.pmc_delegate_votes (chain_id, delegate, block_number DESC, log_index DESC);

-- MoneyWave WavePublished(day, root, amount, allocationHash, totalCumulative).
CREATE TABLE chain.waves_published (
    chain_id          BIGINT        NOT NULL,
    block_number      BIGINT        NOT NULL,
    block_hash        BYTEA         NOT NULL,
    tx_hash           BYTEA         NOT NULL,
    log_index         INTEGER       NOT NULL,
    finalized         BOOLEAN       NOT NULL,
    day               BIGINT        NOT NULL,
    root              BYTEA         NOT NULL,
    amount            NUMERIC(78,0) NOT NULL,
    allocation_hash   BYTEA         NOT NULL,
    total_cumulative  NUMERIC(78,0) NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX waves_published_block ON chain.waves_published (chain_id, block_number);
CREATE INDEX waves_published_day ON chain.waves_published (chain_id, day);

-- MoneyWave Claimed(account, amount, cumulativeAmount).
CREATE TABLE chain.wave_claims (
    chain_id           BIGINT        NOT NULL,
    block_number       BIGINT        NOT NULL,
    block_hash         BYTEA         NOT NULL,
    tx_hash            BYTEA         NOT NULL,
    log_index          INTEGER       NOT NULL,
    finalized          BOOLEAN       NOT NULL,
    account            BYTEA         NOT NULL,
    amount             NUMERIC(78,0) NOT NULL,
    cumulative_amount  NUMERIC(78,0) NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX wave_claims_block ON chain.wave_claims (chain_id, block_number);
CREATE INDEX wave_claims_account ON chain.wave_claims (chain_id, account, block_number DESC, log_index DESC);

-- MoneyWave DailyCapChanged(previousCap, newCap, effectiveFromDay).
CREATE TABLE chain.wave_cap_changes (
    chain_id            BIGINT        NOT NULL,
    block_number        BIGINT        NOT NULL,
    block_hash          BYTEA         NOT NULL,
    tx_hash             BYTEA         NOT NULL,
    log_index           INTEGER       NOT NULL,
    finalized           BOOLEAN       NOT NULL,
    previous_cap        NUMERIC(78,0) NOT NULL,
    new_cap             NUMERIC(78,0) NOT NULL,
    effective_from_day  BIGINT        NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX wave_cap_changes_block ON chain.wave_cap_changes (chain_id, block_number);

-- Paused(account) / Unpaused(account) of any of the three contracts.
CREATE TABLE chain.pause_changes (
    chain_id      BIGINT  NOT NULL,
    block_number  BIGINT  NOT NULL,
    block_hash    BYTEA   NOT NULL,
    tx_hash       BYTEA   NOT NULL,
    log_index     INTEGER NOT NULL,
    finalized     BOOLEAN NOT NULL,
    contract      BYTEA   NOT NULL,
    account       BYTEA   NOT NULL,
    paused        BOOLEAN NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX pause_changes_block ON chain.pause_changes (chain_id, block_number);

-- RoleGranted / RoleRevoked (OpenZeppelin AccessControl) of any of the three contracts.
CREATE TABLE chain.role_changes (
    chain_id      BIGINT  NOT NULL,
    block_number  BIGINT  NOT NULL,
    block_hash    BYTEA   NOT NULL,
    tx_hash       BYTEA   NOT NULL,
    log_index     INTEGER NOT NULL,
    finalized     BOOLEAN NOT NULL,
    contract      BYTEA   NOT NULL,
    role          BYTEA   NOT NULL,
    account       BYTEA   NOT NULL,
    sender        BYTEA   NOT NULL,
    granted       BOOLEAN NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX role_changes_block ON chain.role_changes (chain_id, block_number);
CREATE INDEX role_changes_account ON chain.role_changes (chain_id, contract, account, block_number DESC, log_index DESC);

-- DonationHub RecipientSet(id, beneficiary, kind, active); kind 0 INSTITUTE, 1 OPINION_LEADER.
CREATE TABLE chain.donation_recipients (
    chain_id      BIGINT        NOT NULL,
    block_number  BIGINT        NOT NULL,
    block_hash    BYTEA         NOT NULL,
    tx_hash       BYTEA         NOT NULL,
    log_index     INTEGER       NOT NULL,
    finalized     BOOLEAN       NOT NULL,
    recipient_id  NUMERIC(78,0) NOT NULL,
    beneficiary   BYTEA         NOT NULL,
    kind          SMALLINT      NOT NULL,
    active        BOOLEAN       NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX donation_recipients_block ON chain.donation_recipients (chain_id, block_number);
CREATE INDEX donation_recipients_id ON chain.donation_recipients (chain_id, recipient_id, block_number DESC, log_index DESC);

-- DonationHub Donated(recipientId, donor, beneficiary, amount, memoHash).
CREATE TABLE chain.donations (
    chain_id      BIGINT        NOT NULL,
    block_number  BIGINT        NOT NULL,
    block_hash    BYTEA         NOT NULL,
    tx_hash       BYTEA         NOT NULL,
    log_index     INTEGER       NOT NULL,
    finalized     BOOLEAN       NOT NULL,
    recipient_id  NUMERIC(78,0) NOT NULL,
    donor         BYTEA         NOT NULL,
    beneficiary   BYTEA         NOT NULL,
    amount        NUMERIC(78,0) NOT NULL,
    memo_hash     BYTEA         NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX donations_block ON chain.donations (chain_id, block_number);
CREATE INDEX donations_recipient ON chain.donations (chain_id, recipient_id, block_number DESC, log_index DESC);
CREATE INDEX donations_donor ON chain.donations (chain_id, donor, block_number DESC, log_index DESC);

-- The current state of each recipient: its latest RecipientSet.
CREATE VIEW chain.recipients AS
SELECT DISTINCT ON (chain_id, recipient_id)
       chain_id, recipient_id, beneficiary, kind, active, block_number, finalized
FROM chain.donation_recipients
ORDER BY chain_id, recipient_id, block_number DESC, log_index DESC;

-- Derived PMC balances at the indexed block (latest), changed in the same transaction as the
-- transfers that change them. The zero address (the mint/burn side) has no row, so the sum of all
-- balances equals totalSupply. last_block is the block of the address's latest transfer.
CREATE TABLE chain.pmc_balances (
    chain_id    BIGINT        NOT NULL,
    address     BYTEA         NOT NULL CHECK (octet_length(address) = 20),
    balance     NUMERIC(78,0) NOT NULL CHECK (balance >= 0),
    last_block  BIGINT        NOT NULL,
    PRIMARY KEY (chain_id, address)
);
CREATE INDEX pmc_balances_rich ON chain.pmc_balances (chain_id, balance DESC);

-- The balance of an address as it was at the end of block p_block (p_block <= indexed_block):
-- the latest balance minus what later transfers changed. Finalized balance: pass
-- cursors.finalized_block.
CREATE FUNCTION chain.pmc_balance_at(p_chain BIGINT, p_address BYTEA, p_block BIGINT)
RETURNS NUMERIC(78,0) LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT balance FROM chain.pmc_balances
                     WHERE chain_id = p_chain AND address = p_address), 0)
         - coalesce((SELECT sum(value) FROM chain.pmc_transfers
                     WHERE chain_id = p_chain AND to_address = p_address AND block_number > p_block), 0)
         + coalesce((SELECT sum(value) FROM chain.pmc_transfers
                     WHERE chain_id = p_chain AND from_address = p_address AND block_number > p_block), 0)
$$;

-- Marks every row of blocks (p_from, p_to] final.
CREATE FUNCTION chain.mark_finalized(p_chain BIGINT, p_from BIGINT, p_to BIGINT)
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
END
$$;

-- Undoes everything above block p_fork: reverses the balance changes of the deleted transfers
-- (exactly: an address left without any transfer loses its row, last_block is recomputed), then
-- deletes the rows and the blocks. Returns the number of event rows deleted. The caller moves the
-- cursor in the same transaction.
CREATE FUNCTION chain.rollback_above(p_chain BIGINT, p_fork BIGINT)
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
    DELETE FROM chain.blocks WHERE chain_id = p_chain AND number > p_fork;
    RETURN n;
END
$$;
