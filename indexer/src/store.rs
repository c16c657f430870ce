//! Writes to the `chain` schema: batches of rows through `COPY`, balances through `UNNEST`
//! upserts, the cursor, finality marks and reorg rollbacks. Each function that changes the
//! mirror does so in one transaction together with the cursor.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256};
use posmul_core::money::Wei;
use sqlx::{Acquire, PgConnection};

use crate::{
    error::Result,
    events::{Contracts, Event, EventLog},
    status::Status,
};

/// A block as stored in `chain.blocks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRow {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: Option<B256>,
    pub timestamp: u64,
}

/// The blocks `from..=to` fully fetched: the events in them and the blocks to record.
#[derive(Debug, Clone)]
pub struct Batch {
    pub from: u64,
    pub to: u64,
    pub to_hash: B256,
    /// Rows of blocks at or below this are written as final.
    pub finalized_upto: u64,
    pub blocks: Vec<BlockRow>,
    pub events: Vec<EventLog>,
}

struct TableCopy {
    table: &'static str,
    statement: &'static str,
    data: Vec<u8>,
    rows: u64,
}

/// Net balance change of one address in a batch: received, sent, block of the last transfer.
#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    credit: U256,
    debit: U256,
    last_block: u64,
}

/// A batch turned into `COPY` payloads (done in the fetch task, off the writer's path).
pub struct EncodedBatch {
    pub from: u64,
    pub to: u64,
    pub to_hash: B256,
    pub finalized_upto: u64,
    /// Mirrored events in the batch.
    pub events: usize,
    copies: Vec<TableCopy>,
    balances: HashMap<Address, Delta>,
}

impl EncodedBatch {
    /// Appends the next batch (`next.from == self.to + 1`), so that both are written in one
    /// transaction with one balance update per address.
    pub fn absorb(&mut self, next: EncodedBatch) {
        debug_assert_eq!(next.from, self.to + 1);
        self.to = next.to;
        self.to_hash = next.to_hash;
        self.finalized_upto = next.finalized_upto;
        self.events += next.events;
        for (mine, theirs) in self.copies.iter_mut().zip(next.copies) {
            mine.data.extend_from_slice(&theirs.data);
            mine.rows += theirs.rows;
        }
        for (address, d) in next.balances {
            let e = self.balances.entry(address).or_default();
            e.credit = e.credit.saturating_add(d.credit);
            e.debit = e.debit.saturating_add(d.debit);
            e.last_block = d.last_block;
        }
    }
}

macro_rules! copy_stmt {
    ($table:literal, $cols:literal) => {
        concat!(
            "COPY chain.",
            $table,
            " (chain_id, block_number, block_hash, tx_hash, log_index, finalized, block_time, ",
            $cols,
            ") FROM STDIN"
        )
    };
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends values in PostgreSQL's COPY text format.
struct Line<'a>(&'a mut Vec<u8>);

impl Line<'_> {
    fn sep(&mut self) {
        self.0.push(b'\t');
    }
    fn u64(&mut self, mut v: u64) -> &mut Self {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.0.extend_from_slice(&buf[i..]);
        self.sep();
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        // `\\x` in COPY text is the bytea hex input `\x`.
        self.0.extend_from_slice(b"\\\\x");
        for byte in b {
            self.0.push(HEX[(byte >> 4) as usize]);
            self.0.push(HEX[(byte & 15) as usize]);
        }
        self.sep();
        self
    }
    fn u256(&mut self, v: U256) -> &mut Self {
        match u64::try_from(v) {
            Ok(small) => {
                self.u64(small);
            }
            Err(_) => {
                self.0.extend_from_slice(v.to_string().as_bytes());
                self.sep();
            }
        }
        self
    }
    fn bool(&mut self, v: bool) -> &mut Self {
        self.0.push(if v { b't' } else { b'f' });
        self.sep();
        self
    }
    fn null(&mut self) -> &mut Self {
        self.0.extend_from_slice(b"\\N");
        self.sep();
        self
    }
    fn timestamp(&mut self, unix: u64) -> &mut Self {
        let t = i64::try_from(unix)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .unwrap_or_default();
        self.0
            .extend_from_slice(t.format("%Y-%m-%d %H:%M:%S+00").to_string().as_bytes());
        self.sep();
        self
    }
    /// Replaces the trailing tab with the end of the row.
    fn end(&mut self) {
        if let Some(last) = self.0.last_mut() {
            *last = b'\n';
        }
    }
}

struct Copies {
    chain_id: u64,
    finalized_upto: u64,
    /// Block timestamps by number: every event row carries its block's (the partition key).
    times: HashMap<u64, u64>,
    /// For an event whose block is not among the batch's blocks (the fetchers always record
    /// it): the batch's last block, at most a few seconds off.
    fallback_time: u64,
    tables: Vec<TableCopy>,
}

impl Copies {
    fn new(chain_id: u64, finalized_upto: u64, blocks: &[BlockRow]) -> Copies {
        let t = |table, statement| TableCopy {
            table,
            statement,
            data: Vec::new(),
            rows: 0,
        };
        Copies {
            chain_id,
            finalized_upto,
            times: blocks.iter().map(|b| (b.number, b.timestamp)).collect(),
            fallback_time: blocks
                .iter()
                .max_by_key(|b| b.number)
                .map_or(0, |b| b.timestamp),
            tables: vec![
                t(
                    "blocks",
                    "COPY chain.blocks (chain_id, number, hash, parent_hash, \"timestamp\", finalized) FROM STDIN",
                ),
                t(
                    "pmc_transfers",
                    copy_stmt!("pmc_transfers", "from_address, to_address, value"),
                ),
                t(
                    "pmc_delegate_changes",
                    copy_stmt!(
                        "pmc_delegate_changes",
                        "delegator, from_delegate, to_delegate"
                    ),
                ),
                t(
                    "pmc_delegate_votes",
                    copy_stmt!("pmc_delegate_votes", "delegate, previous_votes, new_votes"),
                ),
                t(
                    "waves_published",
                    copy_stmt!(
                        "waves_published",
                        "day, root, amount, allocation_hash, total_cumulative"
                    ),
                ),
                t(
                    "wave_claims",
                    copy_stmt!("wave_claims", "account, amount, cumulative_amount"),
                ),
                t(
                    "wave_cap_changes",
                    copy_stmt!(
                        "wave_cap_changes",
                        "previous_cap, new_cap, effective_from_day"
                    ),
                ),
                t(
                    "pause_changes",
                    copy_stmt!("pause_changes", "contract, account, paused"),
                ),
                t(
                    "role_changes",
                    copy_stmt!("role_changes", "contract, role, account, sender, granted"),
                ),
                t(
                    "donation_recipients",
                    copy_stmt!(
                        "donation_recipients",
                        "recipient_id, beneficiary, kind, active"
                    ),
                ),
                t(
                    "donations",
                    copy_stmt!(
                        "donations",
                        "recipient_id, donor, beneficiary, amount, memo_hash"
                    ),
                ),
                t(
                    "root_pending",
                    copy_stmt!("root_pending", "day, root, first_day, claimable_at"),
                ),
                t(
                    "root_revocations",
                    copy_stmt!(
                        "root_revocations",
                        "first_day, last_day, root, burned, account"
                    ),
                ),
                t(
                    "root_delay_changes",
                    copy_stmt!("root_delay_changes", "previous_delay, new_delay"),
                ),
            ],
        }
    }

    fn line(&mut self, index: usize, e: &EventLog) -> Line<'_> {
        let final_ = e.block_number <= self.finalized_upto;
        let chain_id = self.chain_id;
        let time = self
            .times
            .get(&e.block_number)
            .copied()
            .unwrap_or(self.fallback_time);
        let t = &mut self.tables[index];
        t.rows += 1;
        let mut l = Line(&mut t.data);
        l.u64(chain_id)
            .u64(e.block_number)
            .bytes(e.block_hash.as_slice())
            .bytes(e.tx_hash.as_slice())
            .u64(e.log_index)
            .bool(final_)
            .timestamp(time);
        l
    }

    fn block(&mut self, b: &BlockRow) {
        let final_ = b.number <= self.finalized_upto;
        let chain_id = self.chain_id;
        let t = &mut self.tables[0];
        t.rows += 1;
        let mut l = Line(&mut t.data);
        l.u64(chain_id).u64(b.number).bytes(b.hash.as_slice());
        match b.parent_hash {
            Some(p) => l.bytes(p.as_slice()),
            None => l.null(),
        };
        l.timestamp(b.timestamp).bool(final_).end();
    }

    fn event(&mut self, e: &EventLog) {
        match &e.event {
            Event::Transfer { from, to, value } => {
                self.line(1, e)
                    .bytes(from.as_slice())
                    .bytes(to.as_slice())
                    .u256(*value)
                    .end();
            }
            Event::DelegateChanged {
                delegator,
                from_delegate,
                to_delegate,
            } => {
                self.line(2, e)
                    .bytes(delegator.as_slice())
                    .bytes(from_delegate.as_slice())
                    .bytes(to_delegate.as_slice())
                    .end();
            }
            Event::DelegateVotesChanged {
                delegate,
                previous_votes,
                new_votes,
            } => {
                self.line(3, e)
                    .bytes(delegate.as_slice())
                    .u256(*previous_votes)
                    .u256(*new_votes)
                    .end();
            }
            Event::WavePublished {
                day,
                root,
                amount,
                allocation_hash,
                total_cumulative,
            } => {
                self.line(4, e)
                    .u64(*day)
                    .bytes(root.as_slice())
                    .u256(*amount)
                    .bytes(allocation_hash.as_slice())
                    .u256(*total_cumulative)
                    .end();
            }
            Event::Claimed {
                account,
                amount,
                cumulative_amount,
            } => {
                self.line(5, e)
                    .bytes(account.as_slice())
                    .u256(*amount)
                    .u256(*cumulative_amount)
                    .end();
            }
            Event::DailyCapChanged {
                previous_cap,
                new_cap,
                effective_from_day,
            } => {
                self.line(6, e)
                    .u256(*previous_cap)
                    .u256(*new_cap)
                    .u64(*effective_from_day)
                    .end();
            }
            Event::PauseChanged {
                contract,
                account,
                paused,
            } => {
                self.line(7, e)
                    .bytes(contract.as_slice())
                    .bytes(account.as_slice())
                    .bool(*paused)
                    .end();
            }
            Event::RoleChanged {
                contract,
                role,
                account,
                sender,
                granted,
            } => {
                self.line(8, e)
                    .bytes(contract.as_slice())
                    .bytes(role.as_slice())
                    .bytes(account.as_slice())
                    .bytes(sender.as_slice())
                    .bool(*granted)
                    .end();
            }
            Event::RecipientSet {
                id,
                beneficiary,
                kind,
                active,
            } => {
                self.line(9, e)
                    .u256(*id)
                    .bytes(beneficiary.as_slice())
                    .u64(u64::from(*kind))
                    .bool(*active)
                    .end();
            }
            Event::Donated {
                recipient_id,
                donor,
                beneficiary,
                amount,
                memo_hash,
            } => {
                self.line(10, e)
                    .u256(*recipient_id)
                    .bytes(donor.as_slice())
                    .bytes(beneficiary.as_slice())
                    .u256(*amount)
                    .bytes(memo_hash.as_slice())
                    .end();
            }
            Event::RootPending {
                day,
                root,
                first_day,
                claimable_at,
            } => {
                // claimableAt is a uint40 on chain; a larger value would be a broken contract.
                let at = u64::try_from(*claimable_at).unwrap_or(u64::MAX);
                self.line(11, e)
                    .u64(*day)
                    .bytes(root.as_slice())
                    .u64(*first_day)
                    .timestamp(at)
                    .end();
            }
            Event::RootRevoked {
                first_day,
                last_day,
                root,
                burned,
                account,
            } => {
                self.line(12, e)
                    .u64(*first_day)
                    .u64(*last_day)
                    .bytes(root.as_slice())
                    .u256(*burned)
                    .bytes(account.as_slice())
                    .end();
            }
            Event::RootDelayChanged {
                previous_delay,
                new_delay,
            } => {
                self.line(13, e)
                    .u256(*previous_delay)
                    .u256(*new_delay)
                    .end();
            }
        }
    }
}

impl Batch {
    /// Encodes the rows and sums the balance changes.
    pub fn encode(self, chain_id: u64) -> EncodedBatch {
        let mut copies = Copies::new(chain_id, self.finalized_upto, &self.blocks);
        for b in &self.blocks {
            copies.block(b);
        }
        let mut balances: HashMap<Address, Delta> = HashMap::new();
        for e in &self.events {
            copies.event(e);
            if let Event::Transfer { from, to, value } = &e.event {
                if *from != Address::ZERO {
                    let d = balances.entry(*from).or_default();
                    d.debit = d.debit.saturating_add(*value);
                    d.last_block = e.block_number;
                }
                if *to != Address::ZERO {
                    let d = balances.entry(*to).or_default();
                    d.credit = d.credit.saturating_add(*value);
                    d.last_block = e.block_number;
                }
            }
        }
        EncodedBatch {
            from: self.from,
            to: self.to,
            to_hash: self.to_hash,
            finalized_upto: self.finalized_upto,
            events: self.events.len(),
            copies: copies.tables,
            balances,
        }
    }
}

/// The indexer's position (`chain.cursors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Last block whose events are all mirrored (`deployment_block - 1` before the first batch).
    pub indexed: i64,
    pub indexed_hash: Option<B256>,
    /// Last mirrored block that is final.
    pub finalized: i64,
}

impl Cursor {
    /// The first block not yet mirrored.
    pub fn next(&self) -> u64 {
        (self.indexed + 1).max(0) as u64
    }
}

fn b256(bytes: Option<Vec<u8>>) -> Option<B256> {
    bytes
        .filter(|b| b.len() == 32)
        .map(|b| B256::from_slice(&b))
}

/// Reads the chain's cursor, creating it at the deployment block. When the stored contracts or
/// deployment block differ from `contracts` (a new deployment on the same chain id), the mirror
/// of that chain is deleted and starts over.
#[tracing::instrument(skip_all, fields(chain_id), err)]
pub async fn load_cursor(
    conn: &mut PgConnection,
    chain_id: u64,
    contracts: &Contracts,
    deployment_block: u64,
) -> Result<Cursor> {
    let mut tx = conn.begin().await?;
    let row = sqlx::query!(
        "SELECT pmc, money_wave, donation_hub, deployment_block, indexed_block, indexed_hash, finalized_block
           FROM chain.cursors WHERE chain_id = $1 FOR UPDATE",
        chain_id as i64,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let start = deployment_block as i64 - 1;
    let cursor = match row {
        Some(r)
            if r.pmc == contracts.pmc.as_slice()
                && r.money_wave == contracts.money_wave.as_slice()
                && r.donation_hub == contracts.donation_hub.as_slice()
                && r.deployment_block == deployment_block as i64 =>
        {
            Cursor {
                indexed: r.indexed_block,
                indexed_hash: b256(r.indexed_hash),
                finalized: r.finalized_block,
            }
        }
        found => {
            if found.is_some() {
                tracing::warn!(
                    chain_id,
                    "the deployment changed: the chain mirror is rebuilt from the new deployment block"
                );
                sqlx::query!("SELECT chain.rollback_above($1, -1)", chain_id as i64)
                    .fetch_one(&mut *tx)
                    .await?;
            }
            sqlx::query!(
                "INSERT INTO chain.cursors (chain_id, pmc, money_wave, donation_hub, deployment_block,
                                            indexed_block, indexed_hash, finalized_block, head_block)
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, $6, 0)
                 ON CONFLICT (chain_id) DO UPDATE SET pmc = $2, money_wave = $3, donation_hub = $4,
                    deployment_block = $5, indexed_block = $6, indexed_hash = NULL, finalized_block = $6,
                    head_block = 0, updated_at = now()",
                chain_id as i64,
                contracts.pmc.as_slice(),
                contracts.money_wave.as_slice(),
                contracts.donation_hub.as_slice(),
                deployment_block as i64,
                start,
            )
            .execute(&mut *tx)
            .await?;
            Cursor {
                indexed: start,
                indexed_hash: None,
                finalized: start,
            }
        }
    };
    tx.commit().await?;
    Ok(cursor)
}

/// Writes a batch, its balances, the finality of earlier rows and the new cursor in one
/// transaction; returns the new cursor.
#[tracing::instrument(skip_all, fields(from = b.from, to = b.to, events = b.events), err)]
pub async fn write_batch(
    conn: &mut PgConnection,
    chain_id: u64,
    cursor: &Cursor,
    b: &EncodedBatch,
    head: u64,
    status: &Status,
) -> Result<Cursor> {
    let mut tx = conn.begin().await?;
    for c in b.copies.iter().filter(|c| c.rows > 0) {
        // COPY … FROM STDIN streams data after the statement: no query! macro can describe it.
        let mut copy = tx.copy_in_raw(c.statement).await?;
        for chunk in c.data.chunks(1 << 20) {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
    }
    if !b.balances.is_empty() {
        let n = b.balances.len();
        let (mut addresses, mut credits, mut debits, mut last_blocks) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (address, d) in &b.balances {
            addresses.push(address.to_vec());
            credits.push(Wei::from_u256(d.credit));
            debits.push(Wei::from_u256(d.debit));
            last_blocks.push(d.last_block as i64);
        }
        sqlx::query!(
            "UPDATE chain.pmc_balances b
                SET balance = b.balance + t.credit - t.debit, last_block = t.last_block
               FROM UNNEST($2::bytea[], $3::numeric[], $4::numeric[], $5::bigint[]) AS t(address, credit, debit, last_block)
              WHERE b.chain_id = $1 AND b.address = t.address",
            chain_id as i64,
            &addresses,
            &credits as _,
            &debits as _,
            &last_blocks,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO chain.pmc_balances (chain_id, address, balance, last_block)
             SELECT $1, t.address, t.credit - t.debit, t.last_block
               FROM UNNEST($2::bytea[], $3::numeric[], $4::numeric[], $5::bigint[]) AS t(address, credit, debit, last_block)
              WHERE NOT EXISTS (SELECT 1 FROM chain.pmc_balances b WHERE b.chain_id = $1 AND b.address = t.address)",
            chain_id as i64,
            &addresses,
            &credits as _,
            &debits as _,
            &last_blocks,
        )
        .execute(&mut *tx)
        .await?;
    }
    let finalized = (b.finalized_upto.min(b.to) as i64).max(cursor.finalized);
    if finalized > cursor.finalized {
        mark_finalized(&mut tx, chain_id, cursor.finalized, finalized).await?;
    }
    sqlx::query!(
        "UPDATE chain.cursors SET indexed_block = $2, indexed_hash = $3, finalized_block = $4, head_block = $5, updated_at = now()
          WHERE chain_id = $1",
        chain_id as i64,
        b.to as i64,
        b.to_hash.as_slice(),
        finalized,
        head as i64,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for c in &b.copies {
        if c.rows > 0 {
            status.metrics.rows_written(c.table, c.rows);
        }
    }
    Ok(Cursor {
        indexed: b.to as i64,
        indexed_hash: Some(b.to_hash),
        finalized,
    })
}

/// Marks rows final up to `upto` (<= the indexed block) without new rows.
pub async fn advance_finality(
    conn: &mut PgConnection,
    chain_id: u64,
    cursor: &Cursor,
    upto: i64,
    head: u64,
) -> Result<Cursor> {
    let upto = upto.min(cursor.indexed);
    if upto <= cursor.finalized {
        return Ok(*cursor);
    }
    let mut tx = conn.begin().await?;
    mark_finalized(&mut tx, chain_id, cursor.finalized, upto).await?;
    sqlx::query!(
        "UPDATE chain.cursors SET finalized_block = $2, head_block = $3, updated_at = now() WHERE chain_id = $1",
        chain_id as i64,
        upto,
        head as i64,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Cursor {
        finalized: upto,
        ..*cursor
    })
}

/// Marks the rows of blocks `from + 1 ..= to` final (`chain.mark_finalized`).
async fn mark_finalized(conn: &mut PgConnection, chain_id: u64, from: i64, to: i64) -> Result<()> {
    sqlx::query!(
        "SELECT chain.mark_finalized($1, $2, $3)",
        chain_id as i64,
        from,
        to,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The highest stored block at or below `n`: (number, hash, finalized).
pub async fn stored_block_at_or_below(
    conn: &mut PgConnection,
    chain_id: u64,
    n: i64,
) -> Result<Option<(i64, B256, bool)>> {
    let row = sqlx::query!(
        "SELECT number, hash, finalized FROM chain.blocks WHERE chain_id = $1 AND number <= $2 ORDER BY number DESC LIMIT 1",
        chain_id as i64,
        n,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|r| b256(Some(r.hash)).map(|h| (r.number, h, r.finalized))))
}

/// Deletes every row above `fork` (balances reversed) and moves the cursor there, in one
/// transaction. Returns the new cursor and the number of event rows deleted.
#[tracing::instrument(skip_all, fields(chain_id, fork), err)]
pub async fn rollback(
    conn: &mut PgConnection,
    chain_id: u64,
    cursor: &Cursor,
    fork: i64,
    fork_hash: Option<B256>,
) -> Result<(Cursor, i64)> {
    let mut tx = conn.begin().await?;
    let deleted = sqlx::query_scalar!(
        r#"SELECT chain.rollback_above($1, $2) AS "deleted!""#,
        chain_id as i64,
        fork,
    )
    .fetch_one(&mut *tx)
    .await?;
    let finalized = cursor.finalized.min(fork);
    sqlx::query!(
        "UPDATE chain.cursors SET indexed_block = $2, indexed_hash = $3, finalized_block = $4, updated_at = now() WHERE chain_id = $1",
        chain_id as i64,
        fork,
        fork_hash.map(|h| h.to_vec()),
        finalized,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        Cursor {
            indexed: fork,
            indexed_hash: fork_hash,
            finalized,
        },
        deleted,
    ))
}
