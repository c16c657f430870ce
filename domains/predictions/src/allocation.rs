//! Exact integer splitting of PMC amounts: the hourly pools (M2) and settlement shares (P5).
//!
//! Everything here is pure and works in whole wei ([`U256`]); nothing is ever rounded up, and
//! every split returns parts that sum to the whole exactly.
//!
//! # The remainder rule (one rule for every split)
//! [`apportion`] divides `total` in proportion to integer weights by the largest-remainder
//! method: each part first gets `floor(total × wᵢ ÷ W)`; the leftover wei (fewer than the number
//! of parts with a positive weight) are handed out one each to the parts with the largest
//! remainder `total × wᵢ mod W`, ties broken by the parts' order (earlier first). Parts with
//! weight 0 get 0. When every weight is 0, nothing is apportioned (all parts are 0).

use std::collections::BTreeMap;

use alloy::primitives::{U256, Uint};
use posmul_core::money::Pmp;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::types::Category;

/// Multipliers are stored with 6 decimal places; weights use them in millionths.
pub const MULTIPLIER_SCALE: u32 = 6;

/// Splits `total` in proportion to `weights` (see the module docs for the remainder rule).
pub fn apportion(total: U256, weights: &[U256]) -> Vec<U256> {
    let sum = weights
        .iter()
        .fold(U256::ZERO, |acc, w| acc.saturating_add(*w));
    if sum.is_zero() {
        return vec![U256::ZERO; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given = U256::ZERO;
    for w in weights {
        let (part, rem) = mul_div_rem(total, *w, sum);
        given += part;
        parts.push(part);
        remainders.push(rem);
    }
    let mut leftover = total - given;
    if !leftover.is_zero() {
        let mut order: Vec<usize> = (0..weights.len())
            .filter(|&i| !weights[i].is_zero())
            .collect();
        order.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]).then(a.cmp(&b)));
        for i in order.into_iter().cycle() {
            if leftover.is_zero() {
                break;
            }
            parts[i] += U256::from(1u8);
            leftover -= U256::from(1u8);
        }
    }
    parts
}

/// floor(a × b ÷ d) and (a × b) mod d, exact even when a × b overflows 256 bits.
fn mul_div_rem(a: U256, b: U256, d: U256) -> (U256, U256) {
    match a.checked_mul(b) {
        Some(p) => (p / d, p % d),
        None => {
            // 512-bit product: the quotient is at most `a` when b ≤ d (a weight never exceeds
            // the sum of weights), and the remainder is below d, so both fit in 256 bits.
            let wide: Uint<512, 8> = a.widening_mul::<256, 4, 512, 8>(b);
            let dl = d.as_limbs();
            let d_wide = Uint::<512, 8>::from_limbs([dl[0], dl[1], dl[2], dl[3], 0, 0, 0, 0]);
            let (q, r) = wide.div_rem(d_wide);
            let low = |x: &Uint<512, 8>| {
                let l = x.as_limbs();
                U256::from_limbs([l[0], l[1], l[2], l[3]])
            };
            (low(&q), low(&r))
        }
    }
}

/// M2: the pool of hour `hour` (0–23) of a day with budget `budget`: ⌊B/24⌋, and the last hour
/// also gets `B mod 24`, so the 24 pools sum to B exactly.
pub fn hour_pool(budget: U256, hour: u32) -> U256 {
    let base = budget / U256::from(24u8);
    if hour == 23 {
        base + budget % U256::from(24u8)
    } else {
        base
    }
}

/// M2: the part of `amount`, released during hour `released_hour` (0–23) of a UTC day, that
/// hour `hour` of the same day takes back: the hours that start after the release share it,
/// ⌊amount / n⌋ each, the day's last hour also the remainder — so they take it back exactly. An
/// hour at or before the release takes nothing, and so does every hour of a release made during
/// the day's last hour (no hour of its day is left: it is never minted).
pub fn returned_share(amount: U256, released_hour: u32, hour: u32) -> U256 {
    if released_hour >= 23 || hour <= released_hour || hour > 23 {
        return U256::ZERO;
    }
    let n = U256::from(23 - released_hour);
    let base = amount / n;
    if hour == 23 { base + amount % n } else { base }
}

/// A game that qualifies for an hour's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualifyingGame {
    pub id: Uuid,
    pub category: Category,
}

/// A game's share of an hour's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub game_id: Uuid,
    pub category: Category,
    pub amount: U256,
}

/// A multiplier as an integer weight in millionths (negative and sub-millionth parts dropped).
pub fn multiplier_weight(m: Decimal) -> U256 {
    if m <= Decimal::ZERO {
        return U256::ZERO;
    }
    let scaled = (m * Decimal::from(10u64.pow(MULTIPLIER_SCALE))).trunc();
    U256::from(u128::try_from(scaled.mantissa()).unwrap_or(0) / 10u128.pow(scaled.scale()))
}

/// M2: splits an hour's `pool` across categories in proportion to (qualifying games in the
/// category × the category's multiplier), then equally across each category's games.
///
/// Deterministic: categories in [`Category::ALL`] order, games by id; remainders by
/// [`apportion`]'s rule at both levels. Returns one allocation per game (ordered by category,
/// then id); they sum to `pool` unless no category has a positive weight, in which case every
/// allocation is 0 and the hour's pool stays unallocated. A category missing from `multipliers`
/// has multiplier 1.
pub fn allocate_hour(
    pool: U256,
    games: &[QualifyingGame],
    multipliers: &BTreeMap<Category, Decimal>,
) -> Vec<Allocation> {
    let mut by_category: BTreeMap<Category, Vec<Uuid>> = BTreeMap::new();
    for g in games {
        by_category.entry(g.category).or_default().push(g.id);
    }
    let categories: Vec<(Category, Vec<Uuid>)> = by_category
        .into_iter()
        .map(|(c, mut ids)| {
            ids.sort();
            ids.dedup();
            (c, ids)
        })
        .collect();
    let weights: Vec<U256> = categories
        .iter()
        .map(|(c, ids)| {
            let m = multipliers.get(c).copied().unwrap_or(Decimal::ONE);
            U256::from(ids.len()) * multiplier_weight(m)
        })
        .collect();
    let category_parts = apportion(pool, &weights);
    let mut out = Vec::with_capacity(games.len());
    for ((category, ids), part) in categories.iter().zip(category_parts) {
        let equal = apportion(part, &vec![U256::from(1u8); ids.len()]);
        out.extend(ids.iter().zip(equal).map(|(id, amount)| Allocation {
            game_id: *id,
            category: *category,
            amount,
        }));
    }
    out
}

/// P5: the winners' credits: `pool × stakeᵢ ÷ Σ stakes`, floored, the dust by [`apportion`]'s
/// rule (largest remainder first, then the order given — settlement orders winners by
/// prediction id). The credits sum to `pool` exactly when there is a winner; with no winner (an
/// empty or all-zero `stakes`) every credit is 0 and the pool is not minted.
pub fn split_pool(pool: U256, stakes: &[Pmp]) -> Vec<U256> {
    // A stake is positive (the ledger moved it); anything else weighs nothing.
    let weights: Vec<U256> = stakes
        .iter()
        .map(|s| U256::from(u64::try_from(s.get()).unwrap_or(0)))
        .collect();
    apportion(pool, &weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u(n: u64) -> U256 {
        U256::from(n)
    }

    #[test]
    fn m2_the_24_hourly_pools_sum_to_the_daily_budget() {
        let b = u(1_000_003);
        let total = (0..24).fold(U256::ZERO, |acc, h| acc + hour_pool(b, h));
        assert_eq!(total, b);
        assert_eq!(hour_pool(b, 0), u(41_666));
        assert_eq!(hour_pool(b, 23), u(41_666 + 19));
    }

    #[test]
    fn apportion_gives_leftover_wei_to_the_largest_remainders_then_the_earlier_part() {
        // 10 over weights 1,1,1: 3 each, 1 left; equal remainders -> the first part.
        assert_eq!(
            apportion(u(10), &[u(1), u(1), u(1)]),
            vec![u(4), u(3), u(3)]
        );
        // 10 over 1,2: 3.33 and 6.66 -> the larger remainder (the second) takes the extra wei.
        assert_eq!(apportion(u(10), &[u(1), u(2)]), vec![u(3), u(7)]);
        assert_eq!(apportion(u(10), &[u(0), u(0)]), vec![u(0), u(0)]);
    }

    #[test]
    fn m2_categories_share_by_games_times_multiplier_then_games_share_equally() {
        let g = |n: u128, c| QualifyingGame {
            id: Uuid::from_u128(n),
            category: c,
        };
        let games = [
            g(1, Category::Sports),
            g(2, Category::Sports),
            g(3, Category::Politics),
        ];
        let mut m = BTreeMap::new();
        m.insert(Category::Politics, Decimal::new(2, 0));
        // Sports weight 2×1, politics 1×2: half each.
        let a = allocate_hour(u(1000), &games, &m);
        let amount = |id: u128| {
            a.iter()
                .find(|x| x.game_id == Uuid::from_u128(id))
                .map(|x| x.amount)
        };
        assert_eq!(amount(1), Some(u(250)));
        assert_eq!(amount(2), Some(u(250)));
        assert_eq!(amount(3), Some(u(500)));
    }

    #[test]
    fn m2_a_release_returns_to_the_hours_after_it_exactly() {
        // 500,000 released at 11:30 (hour 11): 12 hours left, 41,666 each and 8 more at 23:00.
        let r = u(500_000);
        assert_eq!(returned_share(r, 11, 11), U256::ZERO);
        assert_eq!(returned_share(r, 11, 12), u(41_666));
        assert_eq!(returned_share(r, 11, 23), u(41_674));
        assert_eq!(
            returned_share(r, 23, 23),
            U256::ZERO,
            "too late: not minted"
        );
    }

    #[test]
    fn mul_div_is_exact_beyond_256_bits() {
        let (q, r) = mul_div_rem(U256::MAX, U256::MAX, U256::MAX);
        assert_eq!((q, r), (U256::MAX, U256::ZERO));
    }

    fn category() -> impl Strategy<Value = Category> {
        prop::sample::select(Category::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn m2_an_hours_allocations_are_non_negative_and_sum_to_the_pool(
            pool in any::<u128>(),
            games in prop::collection::vec((any::<u128>(), category()), 1..60),
            mults in prop::collection::vec(0u32..5_000_000, 5),
        ) {
            let games: Vec<QualifyingGame> = games.into_iter().map(|(id, c)| QualifyingGame { id: Uuid::from_u128(id), category: c }).collect();
            let multipliers: BTreeMap<Category, Decimal> = Category::ALL.iter().zip(&mults).map(|(c, m)| (*c, Decimal::new(i64::from(*m), 6))).collect();
            let a = allocate_hour(U256::from(pool), &games, &multipliers);
            let sum = a.iter().fold(U256::ZERO, |acc, x| acc + x.amount);
            let any_weight = a.iter().any(|x| !multiplier_weight(multipliers[&x.category]).is_zero());
            if any_weight {
                prop_assert_eq!(sum, U256::from(pool));
            } else {
                prop_assert_eq!(sum, U256::ZERO);
            }
            // Games of one category differ by at most one wei.
            for c in Category::ALL {
                let amounts: Vec<U256> = a.iter().filter(|x| x.category == c).map(|x| x.amount).collect();
                if let (Some(max), Some(min)) = (amounts.iter().max(), amounts.iter().min()) {
                    prop_assert!(*max - *min <= U256::from(1u8));
                }
            }
        }

        #[test]
        fn m2_a_release_is_taken_back_whole_by_the_later_hours_of_its_day(
            amount in any::<[u64; 4]>(),
            released in 0u32..23,
        ) {
            let amount = U256::from_limbs(amount);
            let total = (0..24).fold(U256::ZERO, |acc, h| acc + returned_share(amount, released, h));
            prop_assert_eq!(total, amount);
        }

        #[test]
        fn m2_the_24_hourly_pools_always_sum_to_the_budget(budget in any::<[u64; 4]>()) {
            let b = U256::from_limbs(budget);
            let total = (0..24).fold(U256::ZERO, |acc, h| acc + hour_pool(b, h));
            prop_assert_eq!(total, b);
        }

        #[test]
        fn p5_settlement_credits_never_exceed_the_pool_and_the_dust_rule_holds(
            pool in any::<[u64; 4]>(),
            stakes in prop::collection::vec(1i64..1_000_000_000, 1..80),
        ) {
            let pool = U256::from_limbs(pool);
            let credits = split_pool(pool, &stakes.iter().copied().map(Pmp::new).collect::<Vec<_>>());
            let total: U256 = stakes.iter().map(|s| U256::from(*s as u64)).fold(U256::ZERO, |a, b| a + b);
            let sum = credits.iter().fold(U256::ZERO, |acc, c| acc + *c);
            prop_assert_eq!(sum, pool);
            for (c, s) in credits.iter().zip(&stakes) {
                let (floor, _) = mul_div_rem(pool, U256::from(*s as u64), total);
                // Each credit is its floored share, or that plus one wei of dust.
                prop_assert!(*c == floor || *c == floor + U256::from(1u8));
            }
            // The dust is less than one wei per winner.
            let floors = stakes.iter().fold(U256::ZERO, |acc, s| acc + mul_div_rem(pool, U256::from(*s as u64), total).0);
            prop_assert!(pool - floors < U256::from(stakes.len()));
        }
    }
}
