//! Writing a built wave and reading stored ones (`relayer.waves`, `relayer.wave_leaves`,
//! `relayer.wave_trees`, `relayer.wave_credits`). Byte columns decode through
//! `posmul_economy::codec` (words) and `WalletAddress` (addresses).

use alloy::primitives::{Address, U256};
use chrono::NaiveDate;
use posmul_core::{WalletAddress, merkle::StandardMerkleTree, money::Wei};
use posmul_economy::codec;
use sqlx::{PgConnection, PgPool, postgres::PgCopyIn};
use uuid::Uuid;

use super::{BuildParams, Candidate, Leaf, Status, Wave};
use crate::{Error, Result};

pub(super) async fn insert_wave(conn: &mut PgConnection, w: &Wave, p: &BuildParams) -> Result<()> {
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget,
                                    root, allocation_hash, leaf_count, credit_count)
         VALUES ($1, $2, $3, $4, 'built', $5, $6, $7, $8, $9, $10, $11, $12)",
        w.day as i64,
        w.date,
        p.chain_id as i64,
        p.money_wave.as_slice(),
        w.amount as _,
        w.total_cumulative as _,
        w.cap as _,
        w.budget as _,
        w.root.as_slice(),
        w.allocation_hash.as_slice(),
        w.leaf_count as i32,
        w.credit_count as i32,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn assign_credits(
    conn: &mut PgConnection,
    p: &BuildParams,
    included: &[Candidate],
) -> Result<()> {
    if included.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = included.iter().map(|c| c.id).collect();
    let addresses: Vec<Vec<u8>> = included.iter().map(|c| c.address.to_vec()).collect();
    let amounts: Vec<Wei> = included.iter().map(|c| Wei::from_u256(c.amount)).collect();
    sqlx::query!(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount)
         SELECT id, $1, address, amount FROM UNNEST($2::uuid[], $3::bytea[], $4::numeric[]) AS u(id, address, amount)",
        p.day as i64,
        &ids,
        &addresses,
        &amounts as _,
    )
    .execute(&mut *conn)
    .await?;
    posmul_economy::credits::lifecycle::mark_in_wave(conn, p.date, &ids).await?;
    Ok(())
}

/// Deletes stored wave `w` (never published) so that its day can be built again, in the
/// caller's transaction: records it in `relayer.wave_rebuilds` with what the chain allows now,
/// closes its dead attempts (`(id, "failed" | "dropped")`), gives its parts back through the
/// money book (its credits return to `pending`), and deletes its parts, leaves, tree and row.
/// Returns how many credits returned to `pending`.
pub(super) async fn discard_wave(
    conn: &mut PgConnection,
    w: &Wave,
    p: &BuildParams,
    dead_attempts: &[(i64, &'static str)],
) -> Result<u64> {
    let day = w.day as i64;
    // Lock the row and make sure it is still the unpublished wave the caller looked at.
    let status = sqlx::query_scalar!(
        "SELECT status FROM relayer.waves WHERE day = $1 AND root = $2 FOR UPDATE",
        day,
        w.root.as_slice(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    if !matches!(status.as_deref(), Some("built" | "submitted")) {
        return Err(Error::Corrupt(format!(
            "wave {} cannot be rebuilt: stored as {status:?}",
            w.day
        )));
    }
    sqlx::query!(
        "INSERT INTO relayer.wave_rebuilds (day, status, amount, cap, root, allocation_hash, credit_count, built_at,
                                            daily_cap, supply_headroom)
         SELECT day, status, amount, cap, root, allocation_hash, credit_count, built_at, $2, $3
         FROM relayer.waves WHERE day = $1",
        day,
        p.cap as _,
        p.supply_headroom as _,
    )
    .execute(&mut *conn)
    .await?;
    for &(id, status) in dead_attempts {
        sqlx::query!(
            "UPDATE relayer.tx_attempts SET status = $2, error = COALESCE(error, 'the wave was rebuilt'), updated_at = now()
             WHERE id = $1 AND kind = 'publish_wave' AND subject = $3",
            id,
            status,
            day,
        )
        .execute(&mut *conn)
        .await?;
    }
    let released = posmul_economy::credits::lifecycle::release_wave(conn, w.day, w.date).await?;
    sqlx::query!("DELETE FROM relayer.wave_credits WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM relayer.wave_leaves WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM relayer.wave_trees WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM relayer.waves WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    Ok(released)
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

/// One `COPY … FROM STDIN (FORMAT binary)`: rows are appended to `buf` and sent in
/// [`COPY_CHUNK`] pieces.
struct BinaryCopy<'c> {
    copy: PgCopyIn<&'c mut PgConnection>,
    buf: Vec<u8>,
}

impl<'c> BinaryCopy<'c> {
    async fn start(conn: &'c mut PgConnection, statement: &str) -> Result<BinaryCopy<'c>> {
        // COPY … FROM STDIN streams data after the statement: no query! macro can describe it.
        let copy = conn.copy_in_raw(statement).await?;
        let mut buf = Vec::with_capacity(COPY_CHUNK + 256);
        buf.extend_from_slice(COPY_HEADER);
        Ok(BinaryCopy { copy, buf })
    }

    /// Sends what is buffered once it reaches a chunk (call as data is appended).
    async fn send_full_chunk(&mut self) -> Result<()> {
        if self.buf.len() >= COPY_CHUNK {
            self.copy.send(self.buf.as_slice()).await?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Sends the rest and the trailer, and ends the COPY.
    async fn finish(mut self) -> Result<()> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.copy.send(self.buf.as_slice()).await?;
        self.copy.finish().await?;
        Ok(())
    }
}

/// Stores the leaves of wave `day` (`relayer.wave_leaves`) with one binary COPY.
pub async fn store_leaves(
    conn: &mut PgConnection,
    day: u64,
    leaves: &[Leaf],
    tree: &StandardMerkleTree,
) -> Result<()> {
    let day = i64::try_from(day).map_err(|_| Error::Corrupt(format!("day {day}")))?;
    let mut copy = BinaryCopy::start(
        conn,
        "COPY relayer.wave_leaves (day, address, cumulative, increment, tree_index) FROM STDIN (FORMAT binary)",
    )
    .await?;
    for (i, l) in leaves.iter().enumerate() {
        let at = tree
            .tree_index(i)
            .and_then(|at| i32::try_from(at).ok())
            .ok_or_else(|| Error::Corrupt("leaf outside the tree".into()))?;
        let buf = &mut copy.buf;
        buf.extend_from_slice(&5i16.to_be_bytes());
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&day.to_be_bytes());
        buf.extend_from_slice(&20i32.to_be_bytes());
        buf.extend_from_slice(l.address.as_slice());
        put_numeric(buf, l.cumulative);
        put_numeric(buf, l.increment);
        buf.extend_from_slice(&4i32.to_be_bytes());
        buf.extend_from_slice(&at.to_be_bytes());
        copy.send_full_chunk().await?;
    }
    copy.finish().await
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
    let mut copy = BinaryCopy::start(
        conn,
        "COPY relayer.wave_trees (day, nodes) FROM STDIN (FORMAT binary)",
    )
    .await?;
    copy.buf.extend_from_slice(&2i16.to_be_bytes());
    copy.buf.extend_from_slice(&8i32.to_be_bytes());
    copy.buf.extend_from_slice(&day.to_be_bytes());
    copy.buf.extend_from_slice(&len.to_be_bytes());
    // One row: its one field, 32 bytes a node, goes out in chunks as it is written.
    for n in tree.nodes() {
        copy.buf.extend_from_slice(n.as_slice());
        copy.send_full_chunk().await?;
    }
    copy.finish().await
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

/// The leaves of wave `day` as (address, cumulative amount), in address order.
pub(super) async fn cumulative_amounts(
    db: impl sqlx::PgExecutor<'_>,
    day: u64,
) -> Result<Vec<(Address, U256)>> {
    let rows = sqlx::query!(
        r#"SELECT address AS "address: WalletAddress", cumulative AS "cumulative: Wei"
           FROM relayer.wave_leaves WHERE day = $1 ORDER BY address"#,
        day as i64,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.address.get(), r.cumulative.as_u256()))
        .collect())
}

/// Rebuilds a stored wave's tree from its leaves (for a missing export or a check).
pub async fn load_tree(pool: &PgPool, day: u64) -> Result<Option<StandardMerkleTree>> {
    let values = cumulative_amounts(pool, day).await?;
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(StandardMerkleTree::build(values)?))
}

/// A `relayer.waves` row as stored; [`Wave`] once its bytes and status are checked.
struct WaveRow {
    day: i64,
    date: NaiveDate,
    status: String,
    amount: Wei,
    total_cumulative: Wei,
    cap: Wei,
    budget: Wei,
    root: Vec<u8>,
    allocation_hash: Vec<u8>,
    leaf_count: i32,
    credit_count: i32,
    tx_hash: Option<Vec<u8>>,
    block_number: Option<i64>,
    block_hash: Option<Vec<u8>>,
    gas_used: Option<i64>,
}

/// `SELECT`s [`WaveRow`]s; the argument is the rest of the statement after `FROM relayer.waves`
/// (a literal, so the whole statement is still checked when compiling).
macro_rules! select_waves {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            WaveRow,
            r#"SELECT day, date, status, amount AS "amount: Wei", total_cumulative AS "total_cumulative: Wei",
                      cap AS "cap: Wei", budget AS "budget: Wei", root, allocation_hash, leaf_count,
                      credit_count, tx_hash, block_number, block_hash, gas_used
               FROM relayer.waves "# + $rest
            $(, $arg)*
        )
    };
}

/// Reads a stored wave.
pub async fn load(db: impl sqlx::PgExecutor<'_>, day: u64) -> Result<Option<Wave>> {
    select_waves!("WHERE day = $1", day as i64)
        .fetch_optional(db)
        .await?
        .map(Wave::try_from)
        .transpose()
}

/// Every stored wave, in day order.
pub async fn all(db: impl sqlx::PgExecutor<'_>) -> Result<Vec<Wave>> {
    select_waves!("ORDER BY day")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(Wave::try_from)
        .collect()
}

/// The last stored wave.
pub async fn latest(db: impl sqlx::PgExecutor<'_>) -> Result<Option<Wave>> {
    select_waves!("ORDER BY day DESC LIMIT 1")
        .fetch_optional(db)
        .await?
        .map(Wave::try_from)
        .transpose()
}

impl TryFrom<WaveRow> for Wave {
    type Error = Error;

    fn try_from(r: WaveRow) -> Result<Wave> {
        let word = |b: Vec<u8>| codec::word(&b);
        Ok(Wave {
            day: r.day as u64,
            date: r.date,
            status: Status::parse(&r.status)?,
            amount: r.amount,
            total_cumulative: r.total_cumulative,
            cap: r.cap,
            budget: r.budget,
            root: word(r.root)?,
            allocation_hash: word(r.allocation_hash)?,
            leaf_count: r.leaf_count as u32,
            credit_count: r.credit_count as u32,
            tx_hash: r.tx_hash.map(word).transpose()?,
            block_number: r.block_number.map(|n| n as u64),
            block_hash: r.block_hash.map(word).transpose()?,
            gas_used: r.gas_used.map(|n| n as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(enc(Wei::from_pmc(1).as_u256()), (10, 1, 4, vec![100]));
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

    }
}
