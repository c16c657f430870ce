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
        "INSERT INTO chain.wave_claims (chain_id, block_number, block_hash, tx_hash, log_index, finalized, account, amount, cumulative_amount)
         VALUES ($1, $2, $3, $3, 0, $4, $5, $6, $6)",
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
