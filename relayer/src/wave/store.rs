//! Writing a built wave and reading stored ones (`relayer.waves`, `relayer.wave_leaves`,
//! `relayer.wave_trees`, `relayer.wave_credits`), and the byte-column codecs.

use alloy::primitives::{Address, B256, U256};
use posmul_core::{merkle::StandardMerkleTree, money::Wei};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{BuildParams, Candidate, Leaf, Status, Wave};
use crate::{Error, Result};

pub(super) async fn insert_wave(conn: &mut PgConnection, w: &Wave, p: &BuildParams) -> Result<()> {
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
    posmul_economy::credits::lifecycle::mark_in_wave(conn, p.date, &ids).await?;
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
            r.try_get::<Wei, _>("cumulative")?.as_u256(),
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
