//! M8 against a real anvil and a real PostgreSQL: emission never stalls on one credit. A credit
//! larger than what the day's cap (or the token's remaining supply) leaves is split and its rest
//! carries over, first in line; a stored wave that the chain no longer allows is rebuilt, with
//! its credits released, once no transaction of it can still be mined.

use std::time::Duration;

use posmul_core::{bindings::PMC, money::Wei};
use posmul_economy::{
    credits::{self, CreditRequest, CreditSource},
    ledger::{Reference, ReferenceKind},
};
use posmul_relayer::{
    Error, Relayer,
    failpoint::Step,
    wave::{self, Status},
};
use posmul_testkit::LocalChain;
use sqlx::PgPool;
use uuid::Uuid;

use super::waves::{addr, assert_reconciled, chain, chain_on, user};

/// Issues a PMC credit of `pmc` PMC earned on MoneyWave day `day`, through the money book (so
/// its postings keep E1).
async fn issue(pool: &PgPool, relayer: &Relayer, user: Uuid, pmc: u64, day: u64) -> Uuid {
    let mut tx = pool.begin().await.expect("tx");
    let id = Uuid::new_v4();
    let c = credits::issue(
        &mut tx,
        CreditRequest {
            user_id: user,
            source: CreditSource::PredictionWin,
            amount: Wei::from_pmc(pmc),
            day: relayer.date_of(day).expect("date"),
            reference: Reference {
                kind: ReferenceKind::Prediction,
                id,
            },
            idempotency_key: format!("test:{id}"),
            wave_eligible_at: None,
        },
    )
    .await
    .expect("issued");
    tx.commit().await.expect("commit");
    c.id
}

/// A credit's state and the date of the wave it (its last part) landed in.
async fn state(pool: &PgPool, id: Uuid) -> (String, Option<chrono::NaiveDate>) {
    let r = sqlx::query!(
        "SELECT state, wave_day FROM credits.credits WHERE id = $1",
        id
    )
    .fetch_one(pool)
    .await
    .expect("credit");
    (r.state, r.wave_day)
}

/// E1: the credit ledger still sums to zero and every cached balance equals its postings.
async fn assert_e1(pool: &PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let audit = credits::audit(&mut conn).await.expect("audit");
    assert!(audit.is_exact(), "credits.check_zero_sum(): {audit:?}");
}

async fn amounts(pool: &PgPool) -> Vec<Wei> {
    wave::all(pool)
        .await
        .expect("db")
        .iter()
        .map(|w| w.amount)
        .collect()
}

async fn set_cap(c: &super::waves::Chain, pmc: u64) {
    c.money_wave()
        .setDailyCap(Wei::from_pmc(pmc).as_u256())
        .send()
        .await
        .expect("setDailyCap sent")
        .get_receipt()
        .await
        .expect("setDailyCap mined");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m8_a_credit_larger_than_the_cap_is_split_and_its_rest_stays_first_in_line(pool: PgPool) {
    let mut c = chain(100).await;
    c.start_miner();
    let r = c.relayer(&pool).await;
    let (a, b, cc) = (addr(0xa1), addr(0xb2), addr(0xc3));
    let (ua, ub, uc) = (
        user(&pool, Some(a)).await,
        user(&pool, Some(b)).await,
        user(&pool, Some(cc)).await,
    );
    let big = issue(&pool, &r, ua, 250, 0).await;
    let small = issue(&pool, &r, ub, 10, 0).await;
    let next_day = issue(&pool, &r, uc, 30, 1).await;

    // Day 0: 100 of the 250 fill the wave; nothing after it may overtake the rest.
    c.end_day(0).await;
    assert_eq!(r.catch_up().await.expect("day 0"), vec![0]);
    assert_eq!(amounts(&pool).await, vec![Wei::from_pmc(100)]);
    assert_eq!(state(&pool, big).await, ("pending".into(), None));
    assert_eq!(state(&pool, small).await, ("pending".into(), None));
    let mut conn = pool.acquire().await.expect("conn");
    let totals = credits::totals(&mut conn, ua).await.expect("totals");
    assert_eq!(
        (totals.pending, totals.in_wave, totals.total),
        (Wei::from_pmc(150), Wei::from_pmc(100), Wei::from_pmc(250)),
        "a partly waved credit shows its rest pending and its part in a wave"
    );

    // Day 1: 100 more of it; the 10 of day 0 and the 30 of day 1 still wait behind it.
    c.end_day(1).await;
    assert_eq!(r.catch_up().await.expect("day 1"), vec![1]);
    assert_eq!(
        amounts(&pool).await,
        vec![Wei::from_pmc(100), Wei::from_pmc(100)]
    );
    assert_eq!(state(&pool, big).await.0, "pending");
    assert_eq!(state(&pool, next_day).await.0, "pending");

    // Day 2: the last 50 of it, then the others in order.
    c.end_day(2).await;
    assert_eq!(r.catch_up().await.expect("day 2"), vec![2]);
    assert_eq!(
        amounts(&pool).await,
        vec![Wei::from_pmc(100), Wei::from_pmc(100), Wei::from_pmc(90)]
    );
    let day2 = Some(r.date_of(2).expect("date"));
    assert_eq!(state(&pool, big).await, ("in_wave".into(), day2));
    assert_eq!(state(&pool, small).await, ("in_wave".into(), day2));
    assert_eq!(state(&pool, next_day).await, ("in_wave".into(), day2));
    let totals = credits::totals(&mut conn, ua).await.expect("totals");
    assert_eq!(
        (totals.pending, totals.in_wave),
        (Wei::ZERO, Wei::from_pmc(250))
    );

    // Its leaf holds all three parts; a claim pays them all.
    assert_eq!(
        c.claim_current(&pool, a).await,
        (Wei::from_pmc(250), Wei::from_pmc(250).as_u256())
    );
    assert_reconciled(&r).await;
    assert_e1(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m8_a_stored_wave_over_a_lowered_cap_is_rebuilt_with_its_credits_released(pool: PgPool) {
    let mut c = chain(100).await;
    c.start_miner();
    let (ua, ub) = (
        user(&pool, Some(addr(0xa1))).await,
        user(&pool, Some(addr(0xb2))).await,
    );
    let crashing = c.relayer(&pool).await;
    let first = issue(&pool, &crashing, ua, 80, 0).await;
    let second = issue(&pool, &crashing, ub, 50, 0).await;
    c.end_day(0).await;
    // Wave 0 is stored, nothing is signed; then the admin lowers the cap below its amount.
    crashing.failpoints().arm(Step::BeforeSign);
    assert!(matches!(
        crashing.catch_up().await,
        Err(Error::Failpoint(Step::BeforeSign))
    ));
    drop(crashing);
    let stored = wave::load(&pool, 0).await.expect("db").expect("wave 0");
    assert!(stored.amount > Wei::from_pmc(60));
    set_cap(&c, 60).await;

    // The restarted relayer rebuilds wave 0 within the new cap and publishes it.
    let r = c.relayer(&pool).await;
    assert_eq!(r.catch_up().await.expect("rebuilt and published"), vec![0]);
    let w0 = wave::load(&pool, 0).await.expect("db").expect("wave 0");
    assert_eq!(
        (w0.status, w0.amount, w0.cap, w0.credit_count),
        (Status::Finalized, Wei::from_pmc(60), Wei::from_pmc(60), 1)
    );
    assert_eq!(c.published_days().await, vec![0]);
    assert_eq!(state(&pool, first).await.0, "pending", "20 of it left");
    assert_eq!(state(&pool, second).await.0, "pending");
    let rebuilds = sqlx::query!(
        r#"SELECT day, status, amount AS "amount: Wei", cap AS "cap: Wei", daily_cap AS "daily_cap: Wei"
           FROM relayer.wave_rebuilds"#
    )
    .fetch_all(&pool)
    .await
    .expect("db");
    assert_eq!(rebuilds.len(), 1, "the abandoned wave is on record");
    assert_eq!(
        (
            rebuilds[0].day,
            rebuilds[0].amount,
            rebuilds[0].cap,
            rebuilds[0].daily_cap,
            rebuilds[0].status.as_str()
        ),
        (0, stored.amount, stored.cap, Wei::from_pmc(60), "submitted")
    );

    // The released credits carry on in order: 20 + 40, then 10.
    c.end_day(2).await;
    assert_eq!(r.catch_up().await.expect("days 1, 2"), vec![1, 2]);
    assert_eq!(
        amounts(&pool).await,
        vec![Wei::from_pmc(60), Wei::from_pmc(60), Wei::from_pmc(10)]
    );
    assert_eq!(state(&pool, first).await.0, "in_wave");
    assert_eq!(state(&pool, second).await.0, "in_wave");
    assert_reconciled(&r).await;
    assert_e1(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m8_a_wave_whose_transaction_reverted_on_a_lowered_cap_is_rebuilt_once_that_attempt_is_final(
    pool: PgPool,
) {
    // No miner yet: anvil mines a block per transaction, so finality stands still until the
    // test starts one.
    let mut c = chain(100).await;
    // The relayer signs with its own key, so the admin's transactions never touch its nonces.
    let key = c.local.keys()[2].clone();
    let mw = c.money_wave();
    let role = mw.RELAYER_ROLE().call().await.expect("role");
    mw.grantRole(role, key.address())
        .send()
        .await
        .expect("grant sent")
        .get_receipt()
        .await
        .expect("grant mined");
    let url = c.local.url();
    let crashing = c.relayer_signing(&pool, &url, key.clone()).await;
    let u = user(&pool, Some(addr(0xa1))).await;
    let credit = issue(&pool, &crashing, u, 80, 0).await;
    c.end_day(0).await;
    // publishWave(0, …, 80 PMC) is signed and recorded; the process dies before broadcasting.
    crashing.failpoints().arm(Step::AfterSignBeforeBroadcast);
    assert!(matches!(
        crashing.catch_up().await,
        Err(Error::Failpoint(Step::AfterSignBeforeBroadcast))
    ));
    drop(crashing);
    set_cap(&c, 50).await;

    // The recorded attempt may already be in a mempool: it is sent, reverts on the cap, and
    // only once its nonce is final is the wave rebuilt and published, exactly once.
    let r = c.relayer_signing(&pool, &url, key).await;
    let task = tokio::spawn({
        let r = r.clone();
        async move { r.catch_up().await }
    });
    let attempt = || {
        sqlx::query_scalar!(
            "SELECT status FROM relayer.tx_attempts WHERE kind = 'publish_wave' AND subject = 0 ORDER BY id"
        )
        .fetch_all(&pool)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while attempt().await.expect("db") != vec!["failed"] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attempt never reverted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its block is not final: the stored wave stays as it is, nothing else is signed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(attempt().await.expect("db"), vec!["failed"]);
    let stored = wave::load(&pool, 0).await.expect("db").expect("wave 0");
    assert_eq!(
        stored.amount,
        Wei::from_pmc(80),
        "not rebuilt before the revert is final"
    );
    assert!(!task.is_finished());
    c.start_miner();
    let done = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("finishes")
        .expect("task");
    assert_eq!(done.expect("published"), vec![0]);
    let statuses = sqlx::query_scalar!(
        "SELECT status FROM relayer.tx_attempts WHERE kind = 'publish_wave' AND subject = 0 ORDER BY id"
    )
    .fetch_all(&pool)
    .await
    .expect("db");
    assert_eq!(statuses, vec!["failed", "mined"]);
    let w0 = wave::load(&pool, 0).await.expect("db").expect("wave 0");
    assert_eq!(
        (w0.status, w0.amount),
        (Status::Finalized, Wei::from_pmc(50))
    );
    assert_eq!(c.published_days().await, vec![0]);
    assert_eq!(
        c.money_wave().totalMinted().call().await.expect("minted"),
        Wei::from_pmc(50).as_u256()
    );
    assert_eq!(state(&pool, credit).await.0, "pending", "30 of it left");
    let abandoned = sqlx::query_scalar!(
        r#"SELECT amount AS "amount: Wei" FROM relayer.wave_rebuilds WHERE day = 0"#
    )
    .fetch_all(&pool)
    .await
    .expect("db");
    assert_eq!(abandoned, vec![Wei::from_pmc(80)], "rebuilt once");
    c.end_day(1).await;
    assert_eq!(r.catch_up().await.expect("day 1"), vec![1]);
    assert_eq!(state(&pool, credit).await.0, "in_wave");
    assert_reconciled(&r).await;
    assert_e1(&pool).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m8_no_wave_asks_for_more_than_the_supply_headroom(pool: PgPool) {
    let local = LocalChain::with_slots_in_an_epoch(1);
    let deployment = local.deploy_with_max_supply(100, 150).await;
    let mut c = chain_on(local, deployment);
    c.start_miner();
    let r = c.relayer(&pool).await;
    let (ua, ub) = (
        user(&pool, Some(addr(0xa1))).await,
        user(&pool, Some(addr(0xb2))).await,
    );
    issue(&pool, &r, ua, 100, 0).await;
    let last = issue(&pool, &r, ub, 100, 0).await;
    // Day 0 takes the cap; day 1 only the 50 PMC left under MAX_SUPPLY; day 2 nothing.
    c.end_day(2).await;
    assert_eq!(r.catch_up().await.expect("days 0-2"), vec![0, 1, 2]);
    assert_eq!(
        amounts(&pool).await,
        vec![Wei::from_pmc(100), Wei::from_pmc(50), Wei::ZERO]
    );
    let pmc = PMC::new(c.deployment.pmc, c.local.admin());
    assert_eq!(
        pmc.totalSupply().call().await.expect("supply"),
        pmc.MAX_SUPPLY().call().await.expect("max")
    );
    assert_eq!(
        state(&pool, last).await.0,
        "pending",
        "50 of it can never be minted"
    );
    assert_reconciled(&r).await;
    assert_e1(&pool).await;
}
