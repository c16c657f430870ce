//! Building wave d (DESIGN.md M3, M4) and storing it before anything is sent.
//!
//! **Which credits.** After day d ends, the candidates are the `pending` credits of day d or
//! earlier (earlier ones were carried over) whose user has a linked wallet, in the order
//! `(day, created_at, id)`. They are taken in that order while the running total stays within
//! the on-chain cap for day d; the first that does not fit, and every one after it, carries to
//! day d + 1 (no later credit overtakes an earlier one). Credits of users without a wallet are
//! not candidates: they wait and join the first wave built after the wallet is linked. A credit
//! goes to its user's linked wallet (`auth.wallets`, one per user), and the address it went to is recorded in `relayer.wave_credits`, whose primary key puts every credit
//! in at most one wave; the credit turns `in_wave` with `wave_day` in the same transaction.
//!
//! **The allocation.** The cumulative entitlement of an address after wave d is its entitlement
//! after wave d − 1 plus what wave d added; every address ever credited stays in the tree. The
//! wave's `amount` is the sum of its credits, and `totalCumulative` (the sum of all leaves) equals
//! everything minted through day d, which MoneyWave checks on chain.
//!
//! **allocationHash** (canonical encoding): the leaves sorted by address ascending (byte order),
//! each as 20 address bytes followed by the cumulative amount as a 32-byte big-endian integer,
//! concatenated, then `keccak256` of the whole (`keccak256("")` for an empty allocation):
//! `keccak256(abi.encodePacked(a1, c1, a2, c2, …))` with `a1 < a2 < …`. The JSON export lists the
//! values in that same order, so anyone can recompute both the hash and the root from it.
//!
//! **Empty days.** A day without credits still gets a wave (amount 0, the previous root, or the
//! zero root while nothing was ever allocated).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, B256, U256, keccak256};
use chrono::NaiveDate;
use posmul_core::{merkle::StandardMerkleTree, money::Wei};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::{Error, Result, economy};

/// Where a wave is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Built,
    Submitted,
    Mined,
    Finalized,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Built => "built",
            Status::Submitted => "submitted",
            Status::Mined => "mined",
            Status::Finalized => "finalized",
        }
    }

    fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "built" => Status::Built,
            "submitted" => Status::Submitted,
            "mined" => Status::Mined,
            "finalized" => Status::Finalized,
            other => return Err(Error::Corrupt(format!("wave status {other:?}"))),
        })
    }
}

/// A stored wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub day: u64,
    pub date: NaiveDate,
    pub status: Status,
    pub amount: Wei,
    pub total_cumulative: Wei,
    pub cap: Wei,
    pub budget: Wei,
    pub root: B256,
    pub allocation_hash: B256,
    pub leaf_count: u32,
    pub credit_count: u32,
    pub tx_hash: Option<B256>,
    pub block_number: Option<u64>,
    pub block_hash: Option<B256>,
    pub gas_used: Option<u64>,
}

/// One leaf of a wave: an address, its cumulative entitlement, and what this wave added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub address: Address,
    pub cumulative: U256,
    pub increment: U256,
}

/// The canonical allocation hash (see the module docs).
pub fn allocation_hash(leaves: &[Leaf]) -> B256 {
    let mut buf = Vec::with_capacity(leaves.len() * 52);
    for l in leaves {
        buf.extend_from_slice(l.address.as_slice());
        buf.extend_from_slice(&l.cumulative.to_be_bytes::<32>());
    }
    keccak256(&buf)
}

/// A pending credit that may join a wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    pub amount: U256,
    pub address: Address,
}

/// Takes candidates in order while the total stays within `cap`; returns how many.
pub fn take_within_cap(candidates: &[Candidate], cap: U256) -> (usize, U256) {
    let mut total = U256::ZERO;
    for (i, c) in candidates.iter().enumerate() {
        match total.checked_add(c.amount) {
            Some(t) if t <= cap => total = t,
            _ => return (i, total),
        }
    }
    (candidates.len(), total)
}

/// The leaves after adding `included` to the previous cumulative allocation, sorted by address.
pub fn next_leaves(previous: &BTreeMap<Address, U256>, included: &[Candidate]) -> Vec<Leaf> {
    let mut increments: BTreeMap<Address, U256> = BTreeMap::new();
    for c in included {
        let e = increments.entry(c.address).or_default();
        *e = e.saturating_add(c.amount);
    }
    let mut out = Vec::with_capacity(previous.len() + increments.len());
    let mut prev = previous.iter().peekable();
    let mut inc = increments.iter().peekable();
    loop {
        let next = match (prev.peek(), inc.peek()) {
            (None, None) => break,
            (Some((pa, pc)), Some((ia, iv))) if pa == ia => {
                let l = Leaf {
                    address: **pa,
                    cumulative: pc.saturating_add(**iv),
                    increment: **iv,
                };
                prev.next();
                inc.next();
                l
            }
            (Some((pa, pc)), Some((ia, _))) if pa < ia => {
                let l = Leaf {
                    address: **pa,
                    cumulative: **pc,
                    increment: U256::ZERO,
                };
                prev.next();
                l
            }
            (Some((pa, pc)), None) => {
                let l = Leaf {
                    address: **pa,
                    cumulative: **pc,
                    increment: U256::ZERO,
                };
                prev.next();
                l
            }
            (_, Some((ia, iv))) => {
                let l = Leaf {
                    address: **ia,
                    cumulative: **iv,
                    increment: **iv,
                };
                inc.next();
                l
            }
        };
        out.push(next);
    }
    out
}

/// What a build needs to know about the chain.
#[derive(Debug, Clone)]
pub struct BuildParams {
    pub day: u64,
    pub date: NaiveDate,
    pub chain_id: u64,
    pub money_wave: Address,
    /// The on-chain cap for the day (`dailyCap()` before publishing).
    pub cap: Wei,
    /// Where the JSON dump goes (`<dir>/<chainId>/wave-<day>.json`).
    pub export_dir: PathBuf,
}

/// Builds and stores wave `params.day` (one transaction), then writes its JSON export.
/// The caller holds the relayer lock and has checked that the previous day is stored.
#[tracing::instrument(skip_all, fields(day = params.day), err)]
pub async fn build(pool: &PgPool, params: &BuildParams) -> Result<Wave> {
    let mut tx = pool.begin().await?;
    let (previous, previous_total) = previous_allocation(&mut tx, params.day).await?;
    let candidates = candidates(&mut tx, params.date).await?;
    let (n, amount) = take_within_cap(&candidates, params.cap.0);
    let included = &candidates[..n];
    if n < candidates.len() {
        tracing::info!(
            carried = candidates.len() - n,
            "credits over the cap carry to the next day"
        );
    }
    let leaves = next_leaves(&previous, included);
    drop(previous);
    let total_cumulative = previous_total
        .checked_add(amount)
        .ok_or_else(|| Error::Corrupt("total cumulative overflows".into()))?;
    let values: Vec<(Address, U256)> = leaves.iter().map(|l| (l.address, l.cumulative)).collect();
    let tree = if values.is_empty() {
        None
    } else {
        Some(
            tokio::task::spawn_blocking(move || StandardMerkleTree::build(values))
                .await
                .map_err(|e| Error::Corrupt(format!("tree task: {e}")))??,
        )
    };
    let version = economy::in_force(&mut *tx, params.date).await?;
    let wave = Wave {
        day: params.day,
        date: params.date,
        status: Status::Built,
        amount: Wei(amount),
        total_cumulative: Wei(total_cumulative),
        cap: params.cap,
        budget: economy::daily_budget(version.as_ref(), params.cap),
        root: tree.as_ref().map_or(B256::ZERO, |t| t.root()),
        allocation_hash: allocation_hash(&leaves),
        leaf_count: leaves.len() as u32,
        credit_count: n as u32,
        tx_hash: None,
        block_number: None,
        block_hash: None,
        gas_used: None,
    };
    insert_wave(&mut tx, &wave, params).await?;
    assign_credits(&mut tx, params, included).await?;
    if let Some(tree) = &tree {
        store_leaves_and_tree(&mut tx, params.day, &leaves, tree).await?;
    }
    tx.commit().await?;
    if let Some(tree) = &tree {
        export(&params.export_dir, params.chain_id, params.day, tree)?;
    }
    metrics::counter!("posmul_relayer_waves_built_total").increment(1);
    tracing::info!(amount = %wave.amount, leaves = wave.leaf_count, credits = n, root = %wave.root, "wave built");
    Ok(wave)
}

async fn previous_allocation(
    conn: &mut PgConnection,
    day: u64,
) -> Result<(BTreeMap<Address, U256>, U256)> {
    if day == 0 {
        return Ok((BTreeMap::new(), U256::ZERO));
    }
    let prev_day = (day - 1) as i64;
    let total: Option<Wei> =
        sqlx::query_scalar("SELECT total_cumulative FROM relayer.waves WHERE day = $1")
            .bind(prev_day)
            .fetch_optional(&mut *conn)
            .await?;
    let total = total
        .ok_or_else(|| Error::Corrupt(format!("wave {} is missing before wave {day}", day - 1)))?;
    let rows = sqlx::query("SELECT address, cumulative FROM relayer.wave_leaves WHERE day = $1")
        .bind(prev_day)
        .fetch_all(&mut *conn)
        .await?;
    let mut map = BTreeMap::new();
    for r in rows {
        map.insert(
            address(r.try_get("address")?)?,
            r.try_get::<Wei, _>("cumulative")?.0,
        );
    }
    Ok((map, total.0))
}

/// The pending credits of `date` or earlier whose user has a wallet, in wave order, locked.
async fn candidates(conn: &mut PgConnection, date: NaiveDate) -> Result<Vec<Candidate>> {
    let rows = sqlx::query(
        "SELECT c.id, c.amount, decode(substr(w.address, 3), 'hex') AS address
         FROM credits.credits c
         JOIN auth.wallets w ON w.user_id = c.user_id
         WHERE c.state = 'pending' AND c.day <= $1
         ORDER BY c.day, c.created_at, c.id
         FOR UPDATE OF c",
    )
    .bind(date)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Candidate {
                id: r.try_get("id")?,
                amount: r.try_get::<Wei, _>("amount")?.0,
                address: address(r.try_get("address")?)?,
            })
        })
        .collect()
}

async fn insert_wave(conn: &mut PgConnection, w: &Wave, p: &BuildParams) -> Result<()> {
    sqlx::query(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget,
                                    root, allocation_hash, leaf_count, credit_count)
         VALUES ($1, $2, $3, $4, 'built', $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(w.day as i64)
    .bind(w.date)
    .bind(p.chain_id as i64)
    .bind(p.money_wave.as_slice())
    .bind(w.amount)
    .bind(w.total_cumulative)
    .bind(w.cap)
    .bind(w.budget)
    .bind(w.root.as_slice())
    .bind(w.allocation_hash.as_slice())
    .bind(w.leaf_count as i32)
    .bind(w.credit_count as i32)
    .execute(conn)
    .await?;
    Ok(())
}

async fn assign_credits(
    conn: &mut PgConnection,
    p: &BuildParams,
    included: &[Candidate],
) -> Result<()> {
    if included.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = included.iter().map(|c| c.id).collect();
    let addresses: Vec<Vec<u8>> = included.iter().map(|c| c.address.to_vec()).collect();
    let amounts: Vec<Wei> = included.iter().map(|c| Wei(c.amount)).collect();
    sqlx::query(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount)
         SELECT id, $1, address, amount FROM UNNEST($2::uuid[], $3::bytea[], $4::numeric[]) AS u(id, address, amount)",
    )
    .bind(p.day as i64)
    .bind(&ids)
    .bind(&addresses)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;
    let updated = sqlx::query(
        "UPDATE credits.credits SET state = 'in_wave', wave_day = $1 WHERE id = ANY($2) AND state = 'pending'",
    )
    .bind(p.date)
    .bind(&ids)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != ids.len() as u64 {
        return Err(Error::Corrupt(format!(
            "{} of {} credits were no longer pending",
            ids.len() as u64 - updated,
            ids.len()
        )));
    }
    Ok(())
}

/// Stores a wave's leaves and its node array. Public for the benchmark.
///
/// Both go in with `COPY … (FORMAT binary)`, streamed in 1 MiB chunks: no text formatting or
/// parsing of a million NUMERICs, and the 64-byte-per-leaf node array is never copied into one
/// bind parameter.
pub async fn store_leaves_and_tree(
    conn: &mut PgConnection,
    day: u64,
    leaves: &[Leaf],
    tree: &StandardMerkleTree,
) -> Result<()> {
    store_leaves(conn, day, leaves, tree).await?;
    store_tree(conn, day, tree).await
}

/// How much binary COPY data is buffered before it is sent.
const COPY_CHUNK: usize = 1 << 20;

/// The signature, flags and extension length that open binary COPY data.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Stores the leaves of wave `day` (`relayer.wave_leaves`) with one binary COPY.
pub async fn store_leaves(
    conn: &mut PgConnection,
    day: u64,
    leaves: &[Leaf],
    tree: &StandardMerkleTree,
) -> Result<()> {
    let day = i64::try_from(day).map_err(|_| Error::Corrupt(format!("day {day}")))?;
    let mut copy = conn
        .copy_in_raw(
            "COPY relayer.wave_leaves (day, address, cumulative, increment, tree_index) FROM STDIN (FORMAT binary)",
        )
        .await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 256);
    buf.extend_from_slice(COPY_HEADER);
    for (i, l) in leaves.iter().enumerate() {
        let at = tree
            .tree_index(i)
            .and_then(|at| i32::try_from(at).ok())
            .ok_or_else(|| Error::Corrupt("leaf outside the tree".into()))?;
        buf.extend_from_slice(&5i16.to_be_bytes());
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&day.to_be_bytes());
        buf.extend_from_slice(&20i32.to_be_bytes());
        buf.extend_from_slice(l.address.as_slice());
        put_numeric(&mut buf, l.cumulative);
        put_numeric(&mut buf, l.increment);
        buf.extend_from_slice(&4i32.to_be_bytes());
        buf.extend_from_slice(&at.to_be_bytes());
        if buf.len() >= COPY_CHUNK {
            copy.send(buf.as_slice()).await?;
            buf.clear();
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buf.as_slice()).await?;
    copy.finish().await?;
    Ok(())
}

/// Stores the node array of wave `day` (`relayer.wave_trees`, 32 bytes per node, root first)
/// with one binary COPY.
pub async fn store_tree(
    conn: &mut PgConnection,
    day: u64,
    tree: &StandardMerkleTree,
) -> Result<()> {
    let day = i64::try_from(day).map_err(|_| Error::Corrupt(format!("day {day}")))?;
    let len = tree
        .nodes()
        .len()
        .checked_mul(32)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| Error::Corrupt("the tree is too large for one bytea".into()))?;
    let mut copy = conn
        .copy_in_raw("COPY relayer.wave_trees (day, nodes) FROM STDIN (FORMAT binary)")
        .await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 64);
    buf.extend_from_slice(COPY_HEADER);
    buf.extend_from_slice(&2i16.to_be_bytes());
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&day.to_be_bytes());
    buf.extend_from_slice(&len.to_be_bytes());
    for n in tree.nodes() {
        buf.extend_from_slice(n.as_slice());
        if buf.len() >= COPY_CHUNK {
            copy.send(buf.as_slice()).await?;
            buf.clear();
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buf.as_slice()).await?;
    copy.finish().await?;
    Ok(())
}

/// Appends `value` as one binary COPY field of type NUMERIC: its length, then `ndigits`,
/// `weight`, `sign`, `dscale` (i16 each) and the base-10000 digits, most significant first,
/// without leading or trailing zero digits (PostgreSQL's canonical form; 0 has no digits).
pub fn put_numeric(buf: &mut Vec<u8>, value: U256) {
    // A U256 has at most 78 decimal digits: 20 base-10000 digits.
    let mut digits = [0u16; 20];
    let mut n = 0;
    let mut v = value;
    let base = U256::from(10_000u64);
    while !v.is_zero() {
        let (q, r) = v.div_rem(base);
        digits[n] = r.to::<u16>();
        n += 1;
        v = q;
    }
    // digits[..n] is least significant first; the weight is that of the most significant one.
    let weight = n.saturating_sub(1) as i16;
    let trailing = digits[..n].iter().take_while(|d| **d == 0).count();
    let ndigits = n - trailing;
    buf.extend_from_slice(&((8 + 2 * ndigits) as i32).to_be_bytes());
    buf.extend_from_slice(&(ndigits as i16).to_be_bytes());
    buf.extend_from_slice(&(if ndigits == 0 { 0 } else { weight }).to_be_bytes());
    buf.extend_from_slice(&0i16.to_be_bytes());
    buf.extend_from_slice(&0i16.to_be_bytes());
    for d in digits[trailing..n].iter().rev() {
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

/// The export path of a wave.
pub fn export_path(dir: &Path, chain_id: u64, day: u64) -> PathBuf {
    dir.join(chain_id.to_string())
        .join(format!("wave-{day}.json"))
}

/// Writes the `@openzeppelin/merkle-tree` dump (`StandardMerkleTree.load(json)` reads it).
pub fn export(dir: &Path, chain_id: u64, day: u64, tree: &StandardMerkleTree) -> Result<PathBuf> {
    let path = export_path(dir, chain_id, day);
    let io = |source| Error::Export {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    serde_json::to_writer(std::io::BufWriter::new(file), &tree.dump())
        .map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

/// Rebuilds a stored wave's tree from its leaves (for a missing export or a check).
pub async fn load_tree(pool: &PgPool, day: u64) -> Result<Option<StandardMerkleTree>> {
    let rows = sqlx::query(
        "SELECT address, cumulative FROM relayer.wave_leaves WHERE day = $1 ORDER BY address",
    )
    .bind(day as i64)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(rows.len());
    for r in rows {
        values.push((
            address(r.try_get("address")?)?,
            r.try_get::<Wei, _>("cumulative")?.0,
        ));
    }
    Ok(Some(StandardMerkleTree::build(values)?))
}

/// Reads a stored wave.
pub async fn load(db: impl sqlx::PgExecutor<'_>, day: u64) -> Result<Option<Wave>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {WAVE_COLUMNS} FROM relayer.waves WHERE day = $1"
    )))
    .bind(day as i64)
    .fetch_optional(db)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// Every stored wave, in day order.
pub async fn all(db: impl sqlx::PgExecutor<'_>) -> Result<Vec<Wave>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {WAVE_COLUMNS} FROM relayer.waves ORDER BY day"
    )))
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The last stored wave.
pub async fn latest(db: impl sqlx::PgExecutor<'_>) -> Result<Option<Wave>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {WAVE_COLUMNS} FROM relayer.waves ORDER BY day DESC LIMIT 1"
    )))
    .fetch_optional(db)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

const WAVE_COLUMNS: &str =
    "day, date, status, amount, total_cumulative, cap, budget, root, allocation_hash, leaf_count,
     credit_count, tx_hash, block_number, block_hash, gas_used";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<Wave> {
    Ok(Wave {
        day: r.try_get::<i64, _>("day")? as u64,
        date: r.try_get("date")?,
        status: Status::parse(r.try_get("status")?)?,
        amount: r.try_get("amount")?,
        total_cumulative: r.try_get("total_cumulative")?,
        cap: r.try_get("cap")?,
        budget: r.try_get("budget")?,
        root: word(r.try_get("root")?)?,
        allocation_hash: word(r.try_get("allocation_hash")?)?,
        leaf_count: r.try_get::<i32, _>("leaf_count")? as u32,
        credit_count: r.try_get::<i32, _>("credit_count")? as u32,
        tx_hash: r
            .try_get::<Option<Vec<u8>>, _>("tx_hash")?
            .map(word)
            .transpose()?,
        block_number: r
            .try_get::<Option<i64>, _>("block_number")?
            .map(|n| n as u64),
        block_hash: r
            .try_get::<Option<Vec<u8>>, _>("block_hash")?
            .map(word)
            .transpose()?,
        gas_used: r.try_get::<Option<i64>, _>("gas_used")?.map(|n| n as u64),
    })
}

/// A 20-byte column as an address.
pub fn address(bytes: Vec<u8>) -> Result<Address> {
    Address::try_from(bytes.as_slice()).map_err(|_| {
        Error::Corrupt(format!(
            "{} bytes where an address was expected",
            bytes.len()
        ))
    })
}

/// A 32-byte column as a word.
pub fn word(bytes: Vec<u8>) -> Result<B256> {
    B256::try_from(bytes.as_slice()).map_err(|_| {
        Error::Corrupt(format!(
            "{} bytes where a 32-byte word was expected",
            bytes.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cand(i: u8, amount: u64, who: u8) -> Candidate {
        Candidate {
            id: Uuid::from_u128(i as u128),
            amount: U256::from(amount),
            address: Address::repeat_byte(who),
        }
    }

    #[test]
    fn m3_credits_are_taken_in_order_up_to_the_cap_and_none_overtakes() {
        let c = [
            cand(1, 40, 1),
            cand(2, 50, 2),
            cand(3, 20, 3),
            cand(4, 5, 4),
        ];
        // 40 + 50 = 90 fits in 100; 20 does not, so 20 and the 5 after it carry over.
        assert_eq!(take_within_cap(&c, U256::from(100)), (2, U256::from(90)));
        assert_eq!(take_within_cap(&c, U256::from(1000)), (4, U256::from(115)));
        assert_eq!(take_within_cap(&c, U256::ZERO), (0, U256::ZERO));
    }

    #[test]
    fn m4_cumulative_entitlements_add_up_and_keep_old_addresses() {
        let prev: BTreeMap<Address, U256> = [
            (Address::repeat_byte(1), U256::from(10)),
            (Address::repeat_byte(5), U256::from(7)),
        ]
        .into();
        let leaves = next_leaves(&prev, &[cand(1, 3, 1), cand(2, 4, 3), cand(3, 1, 1)]);
        let got: Vec<(u8, u64, u64)> = leaves
            .iter()
            .map(|l| {
                (
                    l.address.0[0],
                    l.cumulative.to::<u64>(),
                    l.increment.to::<u64>(),
                )
            })
            .collect();
        assert_eq!(got, vec![(1, 14, 4), (3, 4, 4), (5, 7, 0)]);
    }

    #[test]
    fn the_allocation_hash_is_keccak_of_packed_sorted_leaves() {
        let l = Leaf {
            address: Address::repeat_byte(0xab),
            cumulative: U256::from(1),
            increment: U256::from(1),
        };
        let mut packed = vec![0xab; 20];
        packed.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
        assert_eq!(allocation_hash(&[l]), keccak256(&packed));
        assert_eq!(allocation_hash(&[]), keccak256([]));
    }

    /// Reads back one field written by [`put_numeric`] as (weight, base-10000 digits).
    fn numeric_fields(buf: &[u8]) -> (i32, i16, i16, Vec<u16>) {
        let be16 = |at: usize| i16::from_be_bytes([buf[at], buf[at + 1]]);
        let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let ndigits = be16(4) as usize;
        assert_eq!(be16(8), 0, "positive");
        assert_eq!(be16(10), 0, "no fraction");
        let digits = (0..ndigits).map(|i| be16(12 + 2 * i) as u16).collect();
        (len, ndigits as i16, be16(6), digits)
    }

    #[test]
    fn numerics_are_encoded_in_postgres_binary_form() {
        let enc = |v: U256| {
            let mut b = Vec::new();
            put_numeric(&mut b, v);
            numeric_fields(&b)
        };
        assert_eq!(enc(U256::ZERO), (8, 0, 0, vec![]));
        assert_eq!(enc(U256::from(9999)), (10, 1, 0, vec![9999]));
        assert_eq!(enc(U256::from(10_000)), (10, 1, 1, vec![1]));
        assert_eq!(
            enc(U256::from(123_450_000_000_u64)),
            (12, 2, 2, vec![1234, 5000])
        );
        assert_eq!(enc(U256::from(100_000_001_u64)), (14, 3, 2, vec![1, 0, 1]));
        // 10^18 = 1 0000^4 0000: one digit of weight 4.
        assert_eq!(enc(Wei::from_pmc(1).0), (10, 1, 4, vec![100]));
    }

    proptest! {
        #[test]
        fn numeric_digits_recompose_the_value(limbs in proptest::array::uniform4(any::<u64>())) {
            let v = U256::from_limbs(limbs);
            let mut b = Vec::new();
            put_numeric(&mut b, v);
            let (len, ndigits, weight, digits) = numeric_fields(&b);
            prop_assert_eq!(len as usize, 8 + 2 * ndigits as usize);
            let mut back = U256::ZERO;
            for (i, d) in digits.iter().enumerate() {
                prop_assert!(*d < 10_000);
                let power = U256::from(10_000u64).pow(U256::from(weight as i64 - i as i64));
                back += U256::from(*d) * power;
            }
            prop_assert_eq!(back, v);
            prop_assert!(digits.last().is_none_or(|d| *d != 0));
            prop_assert!(digits.first().is_none_or(|d| *d != 0));
        }

        #[test]
        fn m3_nothing_is_allocated_that_no_credit_justifies(
            prev in proptest::collection::btree_map(any::<u8>(), 0u64..1000, 0..20),
            credits in proptest::collection::vec((any::<u8>(), 1u64..1000), 0..40),
        ) {
            let prev: BTreeMap<Address, U256> = prev.into_iter().map(|(a, v)| (Address::repeat_byte(a), U256::from(v))).collect();
            let cands: Vec<Candidate> = credits.iter().enumerate().map(|(i, (a, v))| cand(i as u8, *v, *a)).collect();
            let leaves = next_leaves(&prev, &cands);
            let before: U256 = prev.values().copied().sum();
            let added: U256 = cands.iter().map(|c| c.amount).sum();
            let after: U256 = leaves.iter().map(|l| l.cumulative).sum();
            let increments: U256 = leaves.iter().map(|l| l.increment).sum();
            prop_assert_eq!(after, before + added);
            prop_assert_eq!(increments, added);
            prop_assert!(leaves.windows(2).all(|w| w[0].address < w[1].address));
        }
    }
}
