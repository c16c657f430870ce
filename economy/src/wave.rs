//! The read side of Money Wave (M4, M5): which wave is current, what an account is entitled
//! to, what it has claimed and can still claim, and its proof. One function per question; the
//! API's claim and wallet views and the relayer's batch claims all ask here.
//!
//! - The *current* wave of a chain at a time `now` (the caller's clock, see docs/ARCHITECTURE.md
//!   "One clock") is MoneyWave's `currentRoot` (M6): its latest wave on chain (`mined` or
//!   `finalized`) whose root delay has passed (`claimable_at <= now`), that no later wave replaced
//!   while it was pending and that no revocation took off (`relayer.claimable_wave_day`). A root
//!   still in its delay is never offered for claims: a wallet keeps the previous root's proof,
//!   which the chain accepts now, and learns when the next one matures from [`pending`]. A
//!   revoked root is never offered, before or after the relayer has rebuilt its days.
//! - An account's *entitlement* is its cumulative amount in that wave's tree (M4: the sum of its
//!   credits in waves up to that day).
//! - *Claimed* is the highest `cumulativeAmount` of its `Claimed` events in the indexer's mirror
//!   (`chain.wave_claims`); *claimable* is entitlement − claimed, never below zero.
//! - A proof is read from the stored tree without loading it: the leaf's node index, then the
//!   sibling nodes as 32-byte slices of `relayer.wave_trees.nodes`; it is verified against the
//!   root before it is returned.

use alloy::primitives::{Address, B256};
use chrono::{DateTime, Utc};
use posmul_core::{merkle, money::Wei};
use sqlx::PgExecutor;

use crate::codec::{self, CodecError};

/// A read that found the stored waves inconsistent, or failed.
#[derive(Debug, thiserror::Error)]
pub enum WaveError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("stored wave data is inconsistent: {0}")]
    Corrupt(String),
}

pub type Result<T, E = WaveError> = std::result::Result<T, E>;

/// A wave whose root is on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedWave {
    pub chain_id: u64,
    pub day: u64,
    pub root: B256,
    /// The MoneyWave contract it was published on.
    pub money_wave: Address,
}

/// Everything a wallet needs to call `claim(account, cumulativeAmount, proof)` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimProof {
    pub account: Address,
    pub day: u64,
    pub root: B256,
    pub cumulative_amount: Wei,
    pub proof: Vec<B256>,
}

/// An account's standing in Money Wave: what its latest published leaf entitles it to, and
/// what it claimed on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveBalance {
    pub account: Address,
    pub entitled: Wei,
    pub claimed: Wei,
}

impl WaveBalance {
    /// Entitled − claimed, never below zero (M5): what a claim would pay now.
    pub fn claimable(&self) -> Wei {
        self.entitled.checked_sub(self.claimed).unwrap_or(Wei::ZERO)
    }
}

/// A wave on chain whose root is still in its delay (M6): claims use it from `claimable_at`,
/// unless the guardian revokes it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingWave {
    pub day: u64,
    pub root: B256,
    pub claimable_at: DateTime<Utc>,
}

/// The current wave of `chain_id` at `now`: the wave whose root claims verify against (M6).
pub async fn current(
    db: impl PgExecutor<'_>,
    chain_id: u64,
    now: DateTime<Utc>,
) -> Result<Option<PublishedWave>> {
    let chain = chain_id as i64;
    let row = sqlx::query!(
        "SELECT day, root, money_wave FROM relayer.waves
         WHERE chain_id = $1 AND day = relayer.claimable_wave_day($1, $2)",
        chain,
        now,
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(PublishedWave {
            chain_id,
            day: r.day as u64,
            root: codec::word(&r.root)?,
            money_wave: codec::address(&r.money_wave)?,
        })
    })
    .transpose()
}

/// The latest wave of `chain_id` on chain whose root delay is still running at `now` and that
/// no revocation took off, if any: what a wallet may claim against from `claimable_at`.
pub async fn pending(
    db: impl PgExecutor<'_>,
    chain_id: u64,
    now: DateTime<Utc>,
) -> Result<Option<PendingWave>> {
    let chain = chain_id as i64;
    let row = sqlx::query!(
        r#"SELECT w.day, w.root, w.claimable_at AS "claimable_at!" FROM relayer.waves w
           WHERE w.chain_id = $1 AND w.status IN ('mined', 'finalized') AND w.claimable_at > $2
             AND NOT EXISTS (SELECT 1 FROM chain.root_revocations r
                             WHERE r.chain_id = $1 AND w.day BETWEEN r.first_day AND r.last_day
                               AND r.block_number >= w.block_number)
           ORDER BY w.day DESC LIMIT 1"#,
        chain,
        now,
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(PendingWave {
            day: r.day as u64,
            root: codec::word(&r.root)?,
            claimable_at: r.claimable_at,
        })
    })
    .transpose()
}

/// The proof of `account` in `wave`, or `None` when the account has no leaf.
///
/// One round trip: the leaf by primary key, its ancestors' indices by a recursive CTE, and each
/// sibling as a 32-byte slice of the stored node array (`EXTERNAL` storage: a slice reads only
/// the TOAST chunk holding it).
pub async fn proof(
    db: impl PgExecutor<'_>,
    wave: &PublishedWave,
    account: Address,
) -> Result<Option<ClaimProof>> {
    let day = wave.day;
    let stored_day = day as i64;
    let row = sqlx::query!(
        r#"WITH RECURSIVE leaf AS (
               SELECT cumulative, tree_index FROM relayer.wave_leaves WHERE day = $1 AND address = $2
           ), up(i, ord) AS (
               SELECT tree_index, 0 FROM leaf
               UNION ALL
               SELECT (i - 1) / 2, ord + 1 FROM up WHERE i > 0
           )
           SELECT leaf.cumulative AS "cumulative!: Wei", leaf.tree_index AS "tree_index!",
                  ARRAY(SELECT substring(t.nodes FROM (CASE WHEN up.i % 2 = 1 THEN up.i + 1 ELSE up.i - 1 END) * 32 + 1 FOR 32)
                        FROM up JOIN relayer.wave_trees t ON t.day = $1
                        WHERE up.i > 0 ORDER BY up.ord) AS "proof!"
           FROM leaf"#,
        stored_day,
        account.as_slice(),
    )
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let cumulative = row.cumulative;
    let at = row.tree_index as usize;
    let nodes = row.proof;
    if nodes.len() != merkle::proof_indices(at).len() {
        return Err(WaveError::Corrupt(format!(
            "tree of wave {day} lacks proof nodes"
        )));
    }
    let proof = nodes
        .iter()
        .map(|n| codec::word(n))
        .collect::<Result<Vec<_>, _>>()?;
    if !merkle::verify(wave.root, account, cumulative.as_u256(), &proof) {
        return Err(WaveError::Corrupt(format!(
            "stored proof of {account} does not verify against wave {day}"
        )));
    }
    Ok(Some(ClaimProof {
        account,
        day,
        root: wave.root,
        cumulative_amount: cumulative,
        proof,
    }))
}

/// The standing of each of `accounts` on `chain_id` at `now`, in one round trip: the cumulative
/// amount of its leaf in the current wave ([`current`]; 0 without one), and the highest
/// `cumulativeAmount` of its mirrored `Claimed` events (final or not: the chain refuses to pay
/// the same amount twice either way). In the order of `accounts`.
pub async fn balances(
    db: impl PgExecutor<'_>,
    chain_id: u64,
    now: DateTime<Utc>,
    accounts: &[Address],
) -> Result<Vec<WaveBalance>> {
    let chain = chain_id as i64;
    let bytes: Vec<Vec<u8>> = accounts.iter().map(|a| a.to_vec()).collect();
    let rows = sqlx::query!(
        r#"WITH cur AS (SELECT relayer.claimable_wave_day($1, $3) AS day)
           SELECT a.ord AS "ord!",
                  COALESCE((SELECT l.cumulative FROM relayer.wave_leaves l JOIN relayer.waves v ON v.day = l.day
                            WHERE v.chain_id = $1 AND v.status IN ('mined', 'finalized') AND l.address = a.address
                              AND l.day <= (SELECT day FROM cur)
                            ORDER BY l.day DESC LIMIT 1), 0) AS "entitled!: Wei",
                  COALESCE((SELECT max(c.cumulative_amount) FROM chain.wave_claims c
                            WHERE c.chain_id = $1 AND c.account = a.address), 0) AS "claimed!: Wei"
           FROM unnest($2::BYTEA[]) WITH ORDINALITY AS a(address, ord)
           ORDER BY a.ord"#,
        chain,
        &bytes,
        now,
    )
    .fetch_all(db)
    .await?;
    if rows.len() != accounts.len() {
        return Err(WaveError::Corrupt(format!(
            "{} balances for {} accounts",
            rows.len(),
            accounts.len()
        )));
    }
    Ok(accounts
        .iter()
        .zip(rows)
        .map(|(account, r)| WaveBalance {
            account: *account,
            entitled: r.entitled,
            claimed: r.claimed,
        })
        .collect())
}

/// The standing of one account (see [`balances`]).
pub async fn balance(
    db: impl PgExecutor<'_>,
    chain_id: u64,
    now: DateTime<Utc>,
    account: Address,
) -> Result<WaveBalance> {
    balances(db, chain_id, now, &[account])
        .await?
        .pop()
        .ok_or_else(|| WaveError::Corrupt("a balance query returned no row".to_owned()))
}

/// A wave's allocation as stored: its root and its leaves `(account, cumulative amount)` in
/// address order, the order of the relayer's export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub day: u64,
    pub root: B256,
    pub values: Vec<(Address, alloy::primitives::U256)>,
}

impl Allocation {
    /// The `@openzeppelin/merkle-tree` tree of the allocation, checked against the stored root
    /// (CPU work: callers on an async runtime run it on a blocking thread).
    pub fn tree(self) -> Result<merkle::StandardMerkleTree> {
        let day = self.day;
        let tree = merkle::StandardMerkleTree::build(self.values)
            .map_err(|e| WaveError::Corrupt(format!("wave {day}'s leaves: {e}")))?;
        if tree.root() != self.root {
            return Err(WaveError::Corrupt(format!(
                "wave {day}'s leaves do not give its root"
            )));
        }
        Ok(tree)
    }
}

/// The allocation of wave `day` on `chain_id`, once its root is on chain (pending or claimable:
/// anyone may check a root during its delay, M6; a revoked wave is gone). `None` when the wave
/// is not on chain or allocates nothing yet (the zero root has no file).
pub async fn allocation(db: &sqlx::PgPool, chain_id: u64, day: u64) -> Result<Option<Allocation>> {
    let Ok(stored_day) = i64::try_from(day) else {
        return Ok(None);
    };
    let Some(root) = sqlx::query_scalar!(
        "SELECT root FROM relayer.waves
         WHERE chain_id = $1 AND day = $2 AND status IN ('mined', 'finalized')",
        chain_id as i64,
        stored_day,
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let root = codec::word(&root)?;
    let rows = sqlx::query!(
        r#"SELECT address, cumulative AS "cumulative: Wei"
           FROM relayer.wave_leaves WHERE day = $1 ORDER BY address"#,
        stored_day,
    )
    .fetch_all(db)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let values = rows
        .into_iter()
        .map(|r| Ok((codec::address(&r.address)?, r.cumulative.as_u256())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Allocation { day, root, values }))
}
