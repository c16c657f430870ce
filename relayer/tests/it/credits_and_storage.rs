//! The relayer's bookkeeping against a real PostgreSQL, without a chain: credits turning
//! `claimed` from the indexer's mirror (E3), and the bulk storage of a wave.

use alloy::primitives::{Address, B256, U256};
use chrono::NaiveDate;
use posmul_core::{WalletAddress, merkle::StandardMerkleTree, money::Wei};
use posmul_economy::{credits::lifecycle, wave as book};
use posmul_relayer::wave::{self, Leaf};
use sqlx::PgPool;
use uuid::Uuid;

const CHAIN: u64 = 31337;

fn date(day: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("date") + chrono::Days::new(day)
}

/// A stored (built) wave row; only its day and chain matter here.
async fn wave_row(pool: &PgPool, day: u64, chain_id: u64) {
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root,
                                    allocation_hash, leaf_count, credit_count)
         VALUES ($1, $2, $3, $4, 'built', 0, 0, 0, 0, $5, $5, 0, 0)",
        day as i64,
        date(day),
        chain_id as i64,
        Address::ZERO.as_slice(),
        B256::ZERO.as_slice(),
    )
    .execute(pool)
    .await
    .expect("wave");
}

/// A credit of `pmc` PMC earned on `day`, put in wave `wave_day` for `address` (or pending).
async fn credit(
    pool: &PgPool,
    pmc: u64,
    day: u64,
    wave_day: Option<u64>,
    address: Address,
) -> Uuid {
    let id = Uuid::now_v7();
    let user = Uuid::new_v4();
    sqlx::query!("INSERT INTO auth.users (id) VALUES ($1)", user)
        .execute(pool)
        .await
        .expect("user");
    sqlx::query!(
        "INSERT INTO credits.credits (id, user_id, source, amount, day, state, wave_day, reference_kind, reference_id, idempotency_key)
         VALUES ($1, $2, 'prediction_win', $3, $4, $5, $6, 'game', $1, $7)",
        id,
        user,
        Wei::from_pmc(pmc) as _,
        date(day),
        if wave_day.is_some() { "in_wave" } else { "pending" },
        wave_day.map(date),
        format!("test:{id}"),
    )
    .execute(pool)
    .await
    .expect("credit");
    if let Some(w) = wave_day {
        sqlx::query!(
            "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, $2, $3, $4)",
            id,
            w as i64,
            address.as_slice(),
            Wei::from_pmc(pmc) as _,
        )
        .execute(pool)
        .await
        .expect("wave credit");
    }
    id
}

/// A `Claimed` event as the indexer mirrors it.
async fn mirrored_claim(
    pool: &PgPool,
    chain_id: u64,
    n: u8,
    account: Address,
    cumulative_pmc: u64,
    finalized: bool,
) {
    sqlx::query!(
        "INSERT INTO chain.wave_claims (chain_id, block_number, block_hash, tx_hash, log_index, finalized, block_time, account, amount, cumulative_amount)
         VALUES ($1, $2, $3, $3, 0, $4, now(), $5, $6, $6)",
        chain_id as i64,
        i64::from(n),
        B256::repeat_byte(n).to_vec(),
        finalized,
        account.as_slice(),
        Wei::from_pmc(cumulative_pmc) as _,
    )
    .execute(pool)
    .await
    .expect("claim");
}

async fn finalize_claim(pool: &PgPool, n: u8) {
    sqlx::query!(
        "UPDATE chain.wave_claims SET finalized = true WHERE tx_hash = $1",
        B256::repeat_byte(n).to_vec(),
    )
    .execute(pool)
    .await
    .expect("finalize");
}

async fn state(pool: &PgPool, id: Uuid) -> (String, bool) {
    let r = sqlx::query!(
        r#"SELECT state, claimed_at IS NOT NULL AS "at!" FROM credits.credits WHERE id = $1"#,
        id,
    )
    .fetch_one(pool)
    .await
    .expect("credit");
    (r.state, r.at)
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e3_credits_turn_claimed_only_when_a_final_claim_of_their_address_covers_them(
    pool: PgPool,
) {
    let (a, b) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb2));
    wave_row(&pool, 0, CHAIN).await;
    wave_row(&pool, 1, CHAIN).await;
    // Address a: 10 + 5 in wave 0 (cumulative 15), 7 more in wave 1 (cumulative 22).
    let a1 = credit(&pool, 10, 0, Some(0), a).await;
    let a2 = credit(&pool, 5, 0, Some(0), a).await;
    let a3 = credit(&pool, 7, 1, Some(1), a).await;
    // Address b: 10 in wave 0; a pending credit stays pending whatever happens.
    let b1 = credit(&pool, 10, 0, Some(0), b).await;
    let pending = credit(&pool, 3, 1, None, b).await;

    // Nothing claimed yet.
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        0
    );

    // a claims against wave 0's root (15), final; b claims 10, not yet final; a claim of a's
    // whole 22 on another chain counts for nothing here.
    mirrored_claim(&pool, CHAIN, 1, a, 15, true).await;
    mirrored_claim(&pool, CHAIN, 2, b, 10, false).await;
    mirrored_claim(&pool, 1, 3, a, 22, true).await;
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        2
    );
    assert_eq!(state(&pool, a1).await, ("claimed".into(), true));
    assert_eq!(state(&pool, a2).await, ("claimed".into(), true));
    assert_eq!(
        state(&pool, a3).await,
        ("in_wave".into(), false),
        "15 does not cover the 7 of wave 1"
    );
    assert_eq!(
        state(&pool, b1).await,
        ("in_wave".into(), false),
        "an unfinalized claim can be reorged away"
    );

    // b's claim becomes final; a claims wave 1's root (22).
    finalize_claim(&pool, 2).await;
    mirrored_claim(&pool, CHAIN, 4, a, 22, true).await;
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        2
    );
    assert_eq!(state(&pool, a3).await.0, "claimed");
    assert_eq!(state(&pool, b1).await.0, "claimed");
    assert_eq!(state(&pool, pending).await, ("pending".into(), false));

    // Marking again changes nothing.
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        0
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e3_a_partial_claim_marks_only_the_credits_it_covers_in_wave_order(pool: PgPool) {
    let a = Address::repeat_byte(0xa1);
    wave_row(&pool, 0, CHAIN).await;
    wave_row(&pool, 1, CHAIN).await;
    // Wave 1 holds a credit earned on day 0 (carried over) and one of day 1.
    let first = credit(&pool, 4, 0, Some(0), a).await;
    let carried = credit(&pool, 6, 0, Some(1), a).await;
    let later = credit(&pool, 1, 1, Some(1), a).await;
    // 9 covers 4 but not 4 + 6: only the first credit is claimed.
    mirrored_claim(&pool, CHAIN, 1, a, 9, true).await;
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        1
    );
    assert_eq!(state(&pool, first).await.0, "claimed");
    assert_eq!(state(&pool, carried).await.0, "in_wave");
    assert_eq!(state(&pool, later).await.0, "in_wave");
    mirrored_claim(&pool, CHAIN, 2, a, 11, true).await;
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        2
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_wave_is_stored_with_binary_copy_and_reads_back_exactly(pool: PgPool) {
    let values: Vec<(Address, U256)> = vec![
        (Address::repeat_byte(1), U256::from(1)),
        (Address::repeat_byte(2), U256::from(10_000)),
        (Address::repeat_byte(3), Wei::from_pmc(1).as_u256()),
        (Address::repeat_byte(4), U256::from(100_000_001_u64)),
        (Address::repeat_byte(5), U256::MAX),
    ];
    let leaves: Vec<Leaf> = values
        .iter()
        .map(|(a, c)| Leaf {
            address: *a,
            cumulative: *c,
            increment: if *c == U256::MAX { U256::ZERO } else { *c },
        })
        .collect();
    let tree = StandardMerkleTree::build(values.clone()).expect("tree");
    wave_row(&pool, 0, CHAIN).await;
    let mut conn = pool.acquire().await.expect("conn");
    wave::store_leaves_and_tree(&mut conn, 0, &leaves, &tree)
        .await
        .expect("stored");
    let rows = sqlx::query!(
        r#"SELECT address AS "address: WalletAddress", cumulative AS "cumulative: Wei", cumulative::text AS "text!",
                  increment AS "increment: Wei", tree_index
           FROM relayer.wave_leaves WHERE day = 0 ORDER BY address"#
    )
    .fetch_all(&pool)
    .await
    .expect("leaves");
    assert_eq!(rows.len(), leaves.len());
    for (i, (r, l)) in rows.iter().zip(&leaves).enumerate() {
        assert_eq!(r.address.get(), l.address);
        assert_eq!(r.cumulative.as_u256(), l.cumulative);
        assert_eq!(r.text, l.cumulative.to_string());
        assert_eq!(r.increment.as_u256(), l.increment);
        assert_eq!(r.tree_index as usize, tree.tree_index(i).expect("in tree"));
    }
    // Every proof read from the stored nodes verifies against the root.
    let stored = book::PublishedWave {
        chain_id: CHAIN,
        day: 0,
        root: tree.root(),
        money_wave: Address::ZERO,
    };
    for (a, c) in &values {
        let p = book::proof(&pool, &stored, *a)
            .await
            .expect("db")
            .expect("a leaf");
        assert_eq!(p.cumulative_amount.as_u256(), *c);
    }
    assert!(
        book::proof(&pool, &stored, Address::repeat_byte(9))
            .await
            .expect("db")
            .is_none()
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn leaves_still_need_their_wave_and_a_wave_keeps_its_leaves(pool: PgPool) {
    let leaf = |day: i64| {
        sqlx::query!(
            "INSERT INTO relayer.wave_leaves (day, address, cumulative, increment, tree_index) VALUES ($1, $2, 1, 1, 0)",
            day,
            Address::repeat_byte(1).to_vec(),
        )
    };
    let code = |e: sqlx::Error| {
        e.as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned())
    };
    let orphan = leaf(7).execute(&pool).await.expect_err("no wave 7");
    assert_eq!(code(orphan).as_deref(), Some("23503"));
    wave_row(&pool, 7, CHAIN).await;
    leaf(7).execute(&pool).await.expect("wave 7 exists");
    let delete = sqlx::query!("DELETE FROM relayer.waves WHERE day = 7")
        .execute(&pool)
        .await
        .expect_err("wave 7 has leaves");
    assert_eq!(code(delete).as_deref(), Some("23503"));
    let moved = sqlx::query!("UPDATE relayer.wave_leaves SET day = 8 WHERE day = 7")
        .execute(&pool)
        .await
        .expect_err("no wave 8");
    assert_eq!(code(moved).as_deref(), Some("23503"));
}

/// A pending credit of `pmc` PMC earned on `day`, with parts `(wave day, pmc)` for `address`;
/// it turns `in_wave` (with the date of its last part) when the parts cover it.
async fn credit_in_parts(
    pool: &PgPool,
    pmc: u64,
    day: u64,
    parts: &[(u64, u64)],
    address: Address,
) -> Uuid {
    let id = credit(pool, pmc, day, None, address).await;
    for &(wave_day, part) in parts {
        sqlx::query!(
            "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, $2, $3, $4)",
            id,
            wave_day as i64,
            address.as_slice(),
            Wei::from_pmc(part) as _,
        )
        .execute(pool)
        .await
        .expect("part");
    }
    if parts.iter().map(|p| p.1).sum::<u64>() == pmc {
        let last = parts.iter().map(|p| p.0).max().expect("a part");
        sqlx::query!(
            "UPDATE credits.credits SET state = 'in_wave', wave_day = $2 WHERE id = $1",
            id,
            date(last),
        )
        .execute(pool)
        .await
        .expect("in wave");
    }
    id
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m8_e3_a_split_credit_is_claimed_only_once_a_claim_covers_its_last_part(pool: PgPool) {
    let a = Address::repeat_byte(0xa1);
    wave_row(&pool, 0, CHAIN).await;
    wave_row(&pool, 1, CHAIN).await;
    // 10 PMC split: 6 in wave 0, 4 in wave 1; then 3 PMC earned on day 1, in wave 1.
    let split = credit_in_parts(&pool, 10, 0, &[(0, 6), (1, 4)], a).await;
    let after = credit(&pool, 3, 1, Some(1), a).await;
    assert_eq!(state(&pool, split).await.0, "in_wave");

    // A claim against wave 0's root (6) pays the first part only: the credit is not claimed.
    mirrored_claim(&pool, CHAIN, 1, a, 6, true).await;
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        0
    );
    assert_eq!(state(&pool, split).await.0, "in_wave");

    // 10 covers both parts; 13 covers the credit after it too.
    mirrored_claim(&pool, CHAIN, 2, a, 10, true).await;
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        1
    );
    assert_eq!(state(&pool, split).await, ("claimed".into(), true));
    assert_eq!(state(&pool, after).await.0, "in_wave");
    mirrored_claim(&pool, CHAIN, 3, a, 13, true).await;
    assert_eq!(
        lifecycle::mark_claimed(&pool, CHAIN).await.expect("marks"),
        1
    );
    assert_eq!(state(&pool, after).await.0, "claimed");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m8_the_parts_of_a_credit_never_exceed_it_and_cover_it_once_it_leaves_pending(
    pool: PgPool,
) {
    let a = Address::repeat_byte(0xa1);
    wave_row(&pool, 0, CHAIN).await;
    wave_row(&pool, 1, CHAIN).await;
    let id = credit_in_parts(&pool, 10, 0, &[(0, 6)], a).await;
    let part = |day: i64, pmc: u64| {
        sqlx::query!(
            "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, $2, $3, $4)",
            id,
            day,
            a.as_slice(),
            Wei::from_pmc(pmc) as _,
        )
    };
    let code = |e: sqlx::Error| {
        e.as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned())
    };
    let in_wave = || {
        sqlx::query!(
            "UPDATE credits.credits SET state = 'in_wave', wave_day = $2 WHERE id = $1",
            id,
            date(1),
        )
    };
    // 6 + 5 > 10: refused. Leaving pending while 4 are still outside any wave: refused.
    let over = part(1, 5)
        .execute(&pool)
        .await
        .expect_err("over the credit");
    assert_eq!(code(over).as_deref(), Some("23514"));
    let early = in_wave().execute(&pool).await.expect_err("not covered");
    assert_eq!(code(early).as_deref(), Some("23514"));
    part(1, 4).execute(&pool).await.expect("the rest");
    in_wave().execute(&pool).await.expect("covered");
    // A part of a credit in a wave cannot go while the credit still says it is in one.
    let gone = sqlx::query!(
        "DELETE FROM relayer.wave_credits WHERE credit_id = $1 AND day = 1",
        id
    )
    .execute(&pool)
    .await
    .expect_err("still in_wave");
    assert_eq!(code(gone).as_deref(), Some("23514"));
    let zero = sqlx::query!(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, 1, $2, 0)",
        credit(&pool, 1, 0, None, a).await,
        a.as_slice(),
    )
    .execute(&pool)
    .await
    .expect_err("a part is positive");
    assert_eq!(code(zero).as_deref(), Some("23514"));
}

/// One case of the database property below: credits `(earning day, wei, user)` and the caps of
/// the first days, in wei; built in one transaction that is rolled back.
async fn waves_in_the_database(pool: &PgPool, credits: &[(u64, u64, u8)], caps: &[u64]) {
    use posmul_economy::{
        credits::{CreditRequest, CreditSource},
        ledger::{Reference, ReferenceKind},
    };
    let case = format!("credits {credits:?}, caps {caps:?}");
    let mut tx = pool.begin().await.expect("tx");
    let mut users = Vec::new();
    for u in 0..4u8 {
        let id = Uuid::new_v4();
        sqlx::query!("INSERT INTO auth.users (id) VALUES ($1)", id)
            .execute(&mut *tx)
            .await
            .expect("user");
        let address = Address::repeat_byte(u + 1);
        sqlx::query!(
            "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
            address.as_slice(),
            id,
        )
        .execute(&mut *tx)
        .await
        .expect("wallet");
        users.push(id);
    }
    for &(day, wei, u) in credits {
        let id = Uuid::new_v4();
        posmul_economy::credits::issue(
            &mut tx,
            CreditRequest {
                user_id: users[usize::from(u)],
                source: CreditSource::PredictionWin,
                amount: Wei::from_u256(U256::from(wei)),
                day: date(day),
                reference: Reference {
                    kind: ReferenceKind::Prediction,
                    id,
                },
                idempotency_key: format!("case:{id}"),
                wave_eligible_at: None,
            },
        )
        .await
        .expect("issued");
    }
    let all: u64 = credits.iter().map(|c| c.1).sum();
    // The random caps, then days whose cap takes everything left, until every earning day ended.
    let days = caps.len().max(3) + 1;
    for day in 0..days as u64 {
        let cap = caps.get(day as usize).copied().unwrap_or(all);
        let params = wave::BuildParams {
            day,
            date: date(day),
            chain_id: CHAIN,
            money_wave: Address::ZERO,
            cap: Wei::from_u256(U256::from(cap)),
            supply_headroom: Wei::from_u256(U256::MAX),
            // The wave's day has ended (no credit here has a dispute window).
            now: date(day + 1).and_time(chrono::NaiveTime::MIN).and_utc(),
            export_dir: std::env::temp_dir(),
        };
        let (w, _) = wave::build_in(&mut tx, &params).await.expect("built");
        let r = sqlx::query!(
            r#"SELECT (SELECT COALESCE(sum(amount), 0) FROM relayer.wave_credits WHERE day = $1) AS "parts!: Wei",
                      (SELECT COALESCE(sum(increment), 0) FROM relayer.wave_leaves WHERE day = $1) AS "leaves!: Wei",
                      (SELECT COALESCE(sum(c.amount - COALESCE(p.waved, 0)), 0)
                       FROM credits.credits c
                       LEFT JOIN (SELECT credit_id, sum(amount) AS waved FROM relayer.wave_credits GROUP BY credit_id) p
                              ON p.credit_id = c.id
                       WHERE c.state = 'pending' AND c.day <= $2) AS "waiting!: Wei""#,
            day as i64,
            date(day),
        )
        .fetch_one(&mut *tx)
        .await
        .expect("sums");
        assert!(w.amount.as_u256() <= U256::from(cap), "{case}: day {day}");
        assert_eq!(
            (r.parts, r.leaves),
            (w.amount, w.amount),
            "{case}: day {day}"
        );
        // M8: a wave is full whenever something that could have joined it waits.
        assert!(
            r.waiting.is_zero() || w.amount.as_u256() == U256::from(cap),
            "{case}: day {day} left {} waiting under its cap",
            r.waiting
        );
    }
    // No part of a credit is in a wave while an earlier credit that could join that wave still
    // had something outside waves up to it (M3: none overtakes).
    let overtakes = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM relayer.wave_credits x
           JOIN credits.credits cx ON cx.id = x.credit_id
           JOIN relayer.waves wx ON wx.day = x.day
           JOIN credits.credits cy ON (cy.day, cy.created_at, cy.id) < (cx.day, cx.created_at, cx.id)
                                  AND cy.day <= wx.date
           WHERE cy.amount > (SELECT COALESCE(sum(y.amount), 0) FROM relayer.wave_credits y
                              WHERE y.credit_id = cy.id AND y.day <= x.day)"#
    )
    .fetch_one(&mut *tx)
    .await
    .expect("order");
    assert_eq!(overtakes, 0, "{case}");
    // Every credit landed whole and is in_wave with the date of its last part; the waves add up
    // to the credits; E1 holds.
    let r = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM credits.credits c
                   JOIN (SELECT credit_id, sum(amount) AS waved, max(day) AS last FROM relayer.wave_credits
                         GROUP BY credit_id) p ON p.credit_id = c.id
                   JOIN relayer.waves w ON w.day = p.last
                   WHERE c.state = 'in_wave' AND p.waved = c.amount AND c.wave_day = w.date) AS "whole!",
                  (SELECT COALESCE(sum(amount), 0) FROM relayer.waves) AS "waves!: Wei",
                  (SELECT total_cumulative FROM relayer.waves ORDER BY day DESC LIMIT 1) AS "total!: Wei""#
    )
    .fetch_one(&mut *tx)
    .await
    .expect("totals");
    let all = Wei::from_u256(U256::from(all));
    assert_eq!(
        (r.whole, r.waves, r.total),
        (credits.len() as i64, all, all),
        "{case}"
    );
    let audit = posmul_economy::credits::audit(&mut tx)
        .await
        .expect("audit");
    assert!(audit.is_exact(), "{case}: {audit:?}");
    tx.rollback().await.expect("rollback");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m3_m8_waves_built_in_the_database_respect_the_cap_keep_order_and_add_up(pool: PgPool) {
    use proptest::{
        collection::vec,
        strategy::{Strategy, ValueTree},
        test_runner::{Config, TestRunner},
    };
    let cases = (
        vec((0u64..3, 1u64..400, 0u8..4), 0..14),
        vec(0u64..600, 1..6),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    for _ in 0..runner.config().cases {
        let (credits, caps) = cases.new_tree(&mut runner).expect("a case").current();
        waves_in_the_database(&pool, &credits, &caps).await;
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_m3_a_wave_takes_no_credit_whose_dispute_window_is_still_open(pool: PgPool) {
    // Two pending credits of day 0 with linked wallets: one eligible at once, one whose
    // settlement's dispute window ends half an hour after the day.
    let end_of_day = date(1).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let mut ids = Vec::new();
    for (n, eligible) in [
        (1u8, None),
        (2, Some(end_of_day + chrono::Duration::minutes(30))),
    ] {
        let id = credit(&pool, 1, 0, None, Address::ZERO).await;
        let user: Uuid =
            sqlx::query_scalar!("SELECT user_id FROM credits.credits WHERE id = $1", id)
                .fetch_one(&pool)
                .await
                .expect("owner");
        sqlx::query!(
            "UPDATE credits.credits SET wave_eligible_at = $2 WHERE id = $1",
            id,
            eligible,
        )
        .execute(&pool)
        .await
        .expect("eligibility");
        let address = Address::repeat_byte(n);
        sqlx::query!(
            "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
            address.as_slice(),
            user,
        )
        .execute(&pool)
        .await
        .expect("wallet");
        ids.push(id);
    }
    let export_dir = std::env::temp_dir().join(format!("posmul-window-{}", Uuid::new_v4()));
    let params = |day: u64, now| wave::BuildParams {
        day,
        date: date(day),
        chain_id: CHAIN,
        money_wave: Address::ZERO,
        cap: Wei::from_pmc(1000),
        supply_headroom: Wei::from_u256(U256::MAX),
        now,
        export_dir: export_dir.clone(),
    };
    // Wave 0 is built as day 0 ends: the second credit's window is still open.
    let w0 = wave::build(&pool, &params(0, end_of_day))
        .await
        .expect("wave 0");
    assert_eq!((w0.credit_count, w0.amount), (1, Wei::from_pmc(1)));
    let w1 = wave::build(&pool, &params(1, end_of_day + chrono::Duration::days(1)))
        .await
        .expect("wave 1");
    assert_eq!(
        (w1.credit_count, w1.amount),
        (1, Wei::from_pmc(1)),
        "it joins the first wave built after its window"
    );
    let states: Vec<(Uuid, Option<NaiveDate>)> =
        sqlx::query_as("SELECT id, wave_day FROM credits.credits ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("credits");
    assert_eq!(
        states,
        vec![(ids[0], Some(date(0))), (ids[1], Some(date(1)))]
    );
    let _ = std::fs::remove_dir_all(&export_dir);
}

/// A credit of `pmc` PMC earned on day 0, issued through the money book (E1) to a new user
/// whose wallet is `address`.
async fn issued(pool: &PgPool, pmc: u64, address: Address) -> Uuid {
    use posmul_economy::{
        credits::{CreditRequest, CreditSource},
        ledger::{Reference, ReferenceKind},
    };
    let user = Uuid::new_v4();
    sqlx::query!("INSERT INTO auth.users (id) VALUES ($1)", user)
        .execute(pool)
        .await
        .expect("user");
    sqlx::query!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
        address.as_slice(),
        user,
    )
    .execute(pool)
    .await
    .expect("wallet");
    let mut tx = pool.begin().await.expect("tx");
    let id = Uuid::new_v4();
    let c = posmul_economy::credits::issue(
        &mut tx,
        CreditRequest {
            user_id: user,
            source: CreditSource::PredictionWin,
            amount: Wei::from_pmc(pmc),
            day: date(0),
            reference: Reference {
                kind: ReferenceKind::Prediction,
                id,
            },
            idempotency_key: format!("revocable:{id}"),
            wave_eligible_at: None,
        },
    )
    .await
    .expect("issued");
    tx.commit().await.expect("commit");
    c.id
}

/// Build parameters of wave `day` with the cap `cap_pmc`, at the end of that day.
fn params_at(day: u64, cap_pmc: u64, export_dir: &std::path::Path) -> wave::BuildParams {
    wave::BuildParams {
        day,
        date: date(day),
        chain_id: CHAIN,
        money_wave: Address::ZERO,
        cap: Wei::from_pmc(cap_pmc),
        supply_headroom: Wei::from_u256(U256::MAX),
        now: date(day + 1).and_time(chrono::NaiveTime::MIN).and_utc(),
        export_dir: export_dir.to_path_buf(),
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_m8_a_credit_a_wave_carries_in_part_is_irrevocable_and_a_revoked_one_takes_no_part(
    pool: PgPool,
) {
    use posmul_economy::credits::{self, CreditError, CreditState};
    let export_dir = std::env::temp_dir().join(format!("posmul-revoke-{}", Uuid::new_v4()));
    // Wave 0 has room for 4 PMC: it carries 4 of the first credit's 10 (M8: the credit stays
    // pending, its rest first in line) and nothing of the second.
    let split = issued(&pool, 10, Address::repeat_byte(1)).await;
    let other = issued(&pool, 3, Address::repeat_byte(2)).await;
    let w0 = wave::build(&pool, &params_at(0, 4, &export_dir))
        .await
        .expect("wave 0");
    assert_eq!((w0.credit_count, w0.amount), (1, Wei::from_pmc(4)));

    let mut tx = pool.begin().await.expect("tx");
    let refused = credits::revoke(&mut tx, split)
        .await
        .expect_err("a part is in a wave");
    assert!(
        matches!(
            refused,
            CreditError::Irrevocable {
                state: CreditState::Pending,
                waved,
                ..
            } if waved == Wei::from_pmc(4)
        ),
        "{refused:?}"
    );
    assert_eq!(
        credits::revoke(&mut tx, other).await.expect("revoked"),
        Wei::from_pmc(3)
    );
    tx.commit().await.expect("commit");

    // The parts triggers refuse a part of a revoked credit, whoever writes it.
    let address = Address::repeat_byte(2);
    let part = sqlx::query!(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, 0, $2, 1)",
        other,
        address.as_slice(),
    )
    .execute(&pool)
    .await
    .expect_err("a revoked credit takes no part");
    assert_eq!(
        part.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("23514"),
        "{part}"
    );

    // Wave 1 carries the split credit's rest and nothing of the revoked one.
    let w1 = wave::build(&pool, &params_at(1, 1000, &export_dir))
        .await
        .expect("wave 1");
    assert_eq!((w1.credit_count, w1.amount), (1, Wei::from_pmc(6)));
    let states: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, state FROM credits.credits ORDER BY created_at, id")
            .fetch_all(&pool)
            .await
            .expect("credits");
    assert_eq!(
        states,
        vec![(split, "in_wave".to_owned()), (other, "revoked".to_owned())]
    );
    let mut conn = pool.acquire().await.expect("conn");
    let audit = credits::audit(&mut conn).await.expect("audit");
    assert!(audit.is_exact(), "E1 through a revocation: {audit:?}");
    let _ = std::fs::remove_dir_all(&export_dir);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn p6_m8_a_revocation_waits_for_a_wave_being_built_and_refuses_what_it_took(pool: PgPool) {
    use posmul_economy::credits::{self, CreditError, CreditState};
    let export_dir = std::env::temp_dir().join(format!("posmul-revoke-{}", Uuid::new_v4()));
    let credit = issued(&pool, 10, Address::repeat_byte(1)).await;
    // The relayer builds wave 0 (room for 4 PMC) and has not committed yet: the credit is
    // locked, its first part written, its state still pending.
    let mut building = pool.begin().await.expect("tx");
    wave::build_in(&mut building, &params_at(0, 4, &export_dir))
        .await
        .expect("wave 0");
    // A correction revokes it meanwhile: it waits for the build's lock.
    let revoking = tokio::spawn({
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.expect("tx");
            let r = credits::revoke(&mut tx, credit).await;
            tx.commit().await.expect("commit");
            r
        }
    });
    let mut waited = false;
    for _ in 0..200 {
        let blocked = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'"#
        )
        .fetch_one(&pool)
        .await
        .expect("activity");
        if blocked > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(waited, "the revocation waits for the wave's lock");
    building.commit().await.expect("the wave is stored");
    let refused = revoking
        .await
        .expect("task")
        .expect_err("the wave took a part first");
    assert!(
        matches!(
            refused,
            CreditError::Irrevocable {
                state: CreditState::Pending,
                waved,
                ..
            } if waved == Wei::from_pmc(4)
        ),
        "{refused:?}"
    );
    let state: String = sqlx::query_scalar("SELECT state FROM credits.credits WHERE id = $1")
        .bind(credit)
        .fetch_one(&pool)
        .await
        .expect("state");
    assert_eq!(state, "pending");
    let _ = std::fs::remove_dir_all(&export_dir);
}
