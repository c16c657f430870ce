//! Which credits wave d takes, and its leaves and allocation hash (see the module docs of
//! [`crate::wave`]); [`build`] stores the result through `store` and exports it.

use std::{collections::BTreeMap, path::PathBuf};

use alloy::primitives::{Address, B256, U256, keccak256};
use chrono::{DateTime, NaiveDate, Utc};
use posmul_core::{merkle::StandardMerkleTree, money::Wei};
use sqlx::{PgConnection, PgPool};

use super::{Leaf, Status, Wave, export, store};
use crate::{Error, Result, economy};

/// The canonical allocation hash (see the module docs).
pub fn allocation_hash(leaves: &[Leaf]) -> B256 {
    let mut buf = Vec::with_capacity(leaves.len() * 52);
    for l in leaves {
        buf.extend_from_slice(l.address.as_slice());
        buf.extend_from_slice(&l.cumulative.to_be_bytes::<32>());
    }
    keccak256(&buf)
}

/// A pending credit that may join a wave: the money book's own type (which credits are
/// candidates, and in what order, is its rule, E3/M3).
pub use posmul_economy::credits::lifecycle::WaveCandidate as Candidate;

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
    /// The chain's time: credits still in a dispute window at it wait (P6).
    pub now: DateTime<Utc>,
    /// Where the JSON dump goes (`<dir>/<chainId>/wave-<day>.json`).
    pub export_dir: PathBuf,
}

/// Builds and stores wave `params.day` (one transaction), then writes its JSON export.
/// The caller holds the relayer lock and has checked that the previous day is stored.
#[tracing::instrument(skip_all, fields(day = params.day), err)]
pub async fn build(pool: &PgPool, params: &BuildParams) -> Result<Wave> {
    let mut tx = pool.begin().await?;
    let (previous, previous_total) = previous_allocation(&mut tx, params.day).await?;
    let candidates =
        posmul_economy::credits::lifecycle::pending_for_wave(&mut tx, params.date, params.now)
            .await?;
    let (n, amount) = take_within_cap(&candidates, params.cap.as_u256());
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
        amount: Wei::from_u256(amount),
        total_cumulative: Wei::from_u256(total_cumulative),
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
    store::insert_wave(&mut tx, &wave, params).await?;
    store::assign_credits(&mut tx, params, included).await?;
    if let Some(tree) = &tree {
        store::store_leaves_and_tree(&mut tx, params.day, &leaves, tree).await?;
    }
    tx.commit().await?;
    if let Some(tree) = &tree {
        export::export(&params.export_dir, params.chain_id, params.day, tree)?;
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
    let total = sqlx::query_scalar!(
        r#"SELECT total_cumulative AS "total_cumulative: Wei" FROM relayer.waves WHERE day = $1"#,
        prev_day,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::Corrupt(format!("wave {} is missing before wave {day}", day - 1)))?;
    let map = store::cumulative_amounts(&mut *conn, day - 1)
        .await?
        .into_iter()
        .collect();
    Ok((map, total.as_u256()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

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

    proptest! {
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
