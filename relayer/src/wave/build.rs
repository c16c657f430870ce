//! Which credits wave d takes, and its leaves and allocation hash (see the module docs of
//! [`crate::wave`]); [`build`] stores the result through `store` and exports it.

use std::{collections::BTreeMap, path::PathBuf};

use alloy::primitives::{Address, B256, U256, keccak256};
use chrono::{DateTime, NaiveDate, Utc};
use posmul_core::{merkle::StandardMerkleTree, money::Wei};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

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

/// What wave d takes from its candidates ([`take_within_cap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The parts the wave carries, in candidate order: whole candidates, the last one possibly
    /// cut to the room that was left (M8).
    pub parts: Vec<Candidate>,
    /// Their sum, never above the limit.
    pub amount: U256,
    /// The credit cut in two, if any: the wave takes its first part, the rest carries over.
    pub split: Option<Uuid>,
    /// How many candidates carry over to the next day, whole or (the split one) in part.
    pub carried_credits: usize,
    /// What they still hold, in wei (saturating; for the metric and the log).
    pub carried: U256,
}

/// Takes candidates in order up to `limit` (M3, M8): each whole while it fits; the first that
/// does not fit whole is split, its part that fits joining the wave and its rest carrying over,
/// still first in line, and every later candidate carries over whole. So the wave is full
/// whenever anything carries over, and no candidate overtakes an earlier one.
pub fn take_within_cap(candidates: &[Candidate], limit: U256) -> Taken {
    let mut parts = Vec::new();
    let mut amount = U256::ZERO;
    let mut split = None;
    let mut rest = candidates.iter();
    for c in rest.by_ref() {
        let room = limit - amount;
        if c.amount <= room {
            amount += c.amount;
            parts.push(c.clone());
            continue;
        }
        if !room.is_zero() {
            amount = limit;
            split = Some(c.id);
            parts.push(Candidate {
                amount: room,
                ..c.clone()
            });
        }
        let mut carried = c.amount - room;
        let mut carried_credits = 1;
        for later in rest.by_ref() {
            carried = carried.saturating_add(later.amount);
            carried_credits += 1;
        }
        return Taken {
            parts,
            amount,
            split,
            carried_credits,
            carried,
        };
    }
    Taken {
        parts,
        amount,
        split,
        carried_credits: 0,
        carried: U256::ZERO,
    }
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
    /// The on-chain cap for the day (`dailyCap()` before publishing), stored with the wave.
    pub cap: Wei,
    /// What PMC can still mint: `MAX_SUPPLY − totalSupply` (M8).
    pub supply_headroom: Wei,
    /// The chain's time: credits still in a dispute window at it wait (P6).
    pub now: DateTime<Utc>,
    /// Where the JSON dump goes (`<dir>/<chainId>/wave-<day>.json`).
    pub export_dir: PathBuf,
}

impl BuildParams {
    /// The most the wave may carry: the cap, or the supply left if that is less (M8).
    pub fn limit(&self) -> Wei {
        self.cap.min(self.supply_headroom)
    }
}

/// Builds and stores wave `params.day` (one transaction), then writes its JSON export.
/// The caller holds the relayer lock and has checked that the previous day is stored.
#[tracing::instrument(skip_all, fields(day = params.day), err)]
pub async fn build(pool: &PgPool, params: &BuildParams) -> Result<Wave> {
    let mut tx = pool.begin().await?;
    let (wave, tree) = build_in(&mut tx, params).await?;
    tx.commit().await?;
    exported(params, tree.as_ref())?;
    metrics::counter!("posmul_relayer_waves_built_total").increment(1);
    Ok(wave)
}

/// Rebuilds wave `params.day`, stored as `abandoned` but never published, within what the chain
/// allows now (M8). In one transaction: the abandoned wave goes on record
/// (`relayer.wave_rebuilds`), its parts are given back (its credits return to `pending` through
/// the money book), its rows are deleted, and the wave is built again. The caller holds the
/// relayer lock and has established that no transaction of the abandoned wave can still be
/// mined; `dead_attempts` are its recorded attempts to close (failed or dropped).
#[tracing::instrument(skip_all, fields(day = params.day), err)]
pub async fn rebuild(
    pool: &PgPool,
    params: &BuildParams,
    abandoned: &Wave,
    dead_attempts: &[(i64, &'static str)],
) -> Result<Wave> {
    let mut tx = pool.begin().await?;
    let released = store::discard_wave(&mut tx, abandoned, params, dead_attempts).await?;
    let (wave, tree) = build_in(&mut tx, params).await?;
    tx.commit().await?;
    exported(params, tree.as_ref())?;
    metrics::counter!("posmul_relayer_waves_rebuilt_total").increment(1);
    tracing::warn!(
        abandoned_amount = %abandoned.amount,
        abandoned_root = %abandoned.root,
        amount = %wave.amount,
        cap = %params.cap,
        supply_headroom = %params.supply_headroom,
        released_credits = released,
        "the chain no longer allowed the stored wave: rebuilt"
    );
    Ok(wave)
}

/// Writes the export of a stored wave, or removes a stale one when the wave has no tree.
fn exported(params: &BuildParams, tree: Option<&StandardMerkleTree>) -> Result<()> {
    match tree {
        Some(tree) => {
            export::export(&params.export_dir, params.chain_id, params.day, tree)?;
        }
        None => {
            let path = export::export_path(&params.export_dir, params.chain_id, params.day);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Export { path, source }),
            }
        }
    }
    Ok(())
}

/// Decides and stores wave `params.day` in the caller's transaction; returns it and its tree
/// (none while nothing was ever allocated).
pub async fn build_in(
    conn: &mut PgConnection,
    params: &BuildParams,
) -> Result<(Wave, Option<StandardMerkleTree>)> {
    let (previous, previous_total) = previous_allocation(&mut *conn, params.day).await?;
    let candidates =
        posmul_economy::credits::lifecycle::pending_for_wave(conn, params.date, params.now).await?;
    let taken = take_within_cap(&candidates, params.limit().as_u256());
    drop(candidates);
    if taken.carried_credits > 0 {
        tracing::info!(
            carried_credits = taken.carried_credits,
            carried_wei = %taken.carried,
            split = ?taken.split,
            limit = %params.limit(),
            "credits over the day's limit carry over to the next day, the split one first"
        );
    }
    metrics::gauge!("posmul_relayer_credit_carried_wei").set(f64::from(taken.carried));
    if taken.split.is_some() {
        metrics::counter!("posmul_relayer_credits_split_total").increment(1);
    }
    let amount = taken.amount;
    let leaves = next_leaves(&previous, &taken.parts);
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
    let version = economy::in_force(&mut *conn, params.date).await?;
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
        credit_count: taken.parts.len() as u32,
        tx_hash: None,
        block_number: None,
        block_hash: None,
        gas_used: None,
    };
    store::insert_wave(&mut *conn, &wave, params).await?;
    store::assign_credits(&mut *conn, params, &taken.parts).await?;
    if let Some(tree) = &tree {
        store::store_leaves_and_tree(&mut *conn, params.day, &leaves, tree).await?;
    }
    tracing::info!(amount = %wave.amount, leaves = wave.leaf_count, parts = wave.credit_count, root = %wave.root, "wave built");
    Ok((wave, tree))
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

    fn ids_and_amounts(t: &Taken) -> Vec<(u8, u64)> {
        t.parts
            .iter()
            .map(|p| (p.id.as_u128() as u8, p.amount.to::<u64>()))
            .collect()
    }

    #[test]
    fn m3_credits_are_taken_in_order_up_to_the_cap_and_none_overtakes() {
        let c = [
            cand(1, 40, 1),
            cand(2, 50, 2),
            cand(3, 20, 3),
            cand(4, 5, 4),
        ];
        // 40 + 50 = 90 fit in 100; 10 of the 20 fill the wave; its rest and the 5 carry over.
        let t = take_within_cap(&c, U256::from(100));
        assert_eq!(ids_and_amounts(&t), vec![(1, 40), (2, 50), (3, 10)]);
        assert_eq!(
            (t.amount, t.split, t.carried_credits, t.carried),
            (U256::from(100), Some(c[2].id), 2, U256::from(15))
        );
        let all = take_within_cap(&c, U256::from(1000));
        assert_eq!(all.parts, c.to_vec());
        assert_eq!(
            (all.amount, all.split, all.carried_credits, all.carried),
            (U256::from(115), None, 0, U256::ZERO)
        );
        let none = take_within_cap(&c, U256::ZERO);
        assert!(none.parts.is_empty());
        assert_eq!(
            (none.amount, none.split, none.carried_credits, none.carried),
            (U256::ZERO, None, 4, U256::from(115))
        );
    }

    #[test]
    fn m8_a_credit_larger_than_the_cap_is_split_and_the_wave_is_full() {
        let c = [cand(1, 250, 1), cand(2, 10, 2)];
        let t = take_within_cap(&c, U256::from(100));
        assert_eq!(
            ids_and_amounts(&t),
            vec![(1, 100)],
            "never left short of the cap"
        );
        assert_eq!(
            (t.amount, t.split, t.carried_credits, t.carried),
            (U256::from(100), Some(c[0].id), 2, U256::from(160))
        );
        // A credit that fits the room exactly is not split, and the next one carries whole.
        let exact = take_within_cap(&c, U256::from(250));
        assert_eq!(ids_and_amounts(&exact), vec![(1, 250)]);
        assert_eq!((exact.split, exact.carried_credits), (None, 1));
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
        fn m3_m8_every_credit_lands_in_waves_within_the_cap_in_order(
            credits in proptest::collection::vec(1u64..1000, 0..30),
            caps in proptest::collection::vec(0u64..1500, 1..12),
        ) {
            let all: Vec<Candidate> = credits.iter().enumerate().map(|(i, v)| cand(i as u8, *v, i as u8)).collect();
            let index = |id: Uuid| id.as_u128() as usize;
            let mut left = all.clone();
            let mut landed = vec![U256::ZERO; all.len()];
            let mut sequence = Vec::new();
            let mut waves = U256::ZERO;
            // The random caps, then one that takes whatever is left.
            let rest: u64 = credits.iter().sum();
            for cap in caps.iter().copied().chain([rest]) {
                let cap = U256::from(cap);
                let t = take_within_cap(&left, cap);
                prop_assert!(t.amount <= cap);
                prop_assert_eq!(t.amount, t.parts.iter().map(|p| p.amount).sum::<U256>());
                // M8: the wave is full whenever anything carries over.
                prop_assert!(t.carried_credits == 0 || t.amount == cap);
                // The parts are the head of the line: whole, but for a last one cut short.
                for (i, p) in t.parts.iter().enumerate() {
                    prop_assert_eq!(p.id, left[i].id);
                    prop_assert_eq!(p.address, left[i].address);
                    prop_assert!(!p.amount.is_zero() && p.amount <= left[i].amount);
                    let whole = p.amount == left[i].amount;
                    prop_assert!(whole || i + 1 == t.parts.len());
                    prop_assert_eq!(t.split == Some(p.id), !whole);
                    landed[index(p.id)] += p.amount;
                    sequence.push(index(p.id));
                }
                waves += t.amount;
                let taken = t.parts.len();
                let mut next: Vec<Candidate> = Vec::new();
                if t.split.is_some() {
                    let mut cut = left[taken - 1].clone();
                    cut.amount -= t.parts[taken - 1].amount;
                    next.push(cut);
                }
                next.extend(left[taken..].iter().cloned());
                prop_assert_eq!(t.carried_credits, next.len());
                prop_assert_eq!(t.carried, next.iter().map(|c| c.amount).sum::<U256>());
                left = next;
            }
            prop_assert!(left.is_empty());
            // Every credit landed whole, the waves add up to the credits, and no credit's part
            // came before a part of an earlier credit.
            for (c, got) in all.iter().zip(&landed) {
                prop_assert_eq!(c.amount, *got);
            }
            prop_assert_eq!(waves, all.iter().map(|c| c.amount).sum::<U256>());
            prop_assert!(sequence.windows(2).all(|w| w[0] <= w[1]));
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
