//! Delayed roots (M6) on a real anvil: a root is offered for claims only after its delay; a root
//! the guardian revokes is built again and published again by the relayer; and the watcher
//! revokes, with the guardian key, a root published with the relayer key behind the database's
//! back (a stolen key), while it leaves an honest root alone.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
};
use chrono::{DateTime, Utc};
use posmul_core::{bindings::MoneyWave, merkle::StandardMerkleTree, money::Wei};
use posmul_relayer::{
    Relayer,
    watch::Watcher,
    wave::{self, Status},
};
use sqlx::PgPool;

use crate::waves::{Chain, addr, assert_reconciled, chain, credit, user};

/// One hour: the root delay of these tests.
const DELAY: u64 = 3600;

/// The chain's clock (the latest block's time), the "now" of MoneyWave's delay.
async fn chain_now(c: &Chain) -> DateTime<Utc> {
    DateTime::from_timestamp(c.local.timestamp().await as i64, 0).expect("a time")
}

async fn set_root_delay(c: &Chain, seconds: u64) {
    c.money_wave()
        .setRootDelay(U256::from(seconds))
        .send()
        .await
        .expect("setRootDelay sent")
        .get_receipt()
        .await
        .expect("setRootDelay mined");
}

/// Moves the chain's clock `seconds` on and mines a block there.
async fn pass(c: &Chain, seconds: u64) {
    c.local
        .admin()
        .anvil_increase_time(seconds)
        .await
        .expect("increase time");
    c.local.mine(1).await;
}

/// Claims `account`'s entitlement in the current wave (by the chain's clock) as anvil's account 1.
async fn claim(c: &Chain, pool: &PgPool, account: Address) -> bool {
    let Some(current) = posmul_economy::wave::current(pool, 31337, chain_now(c).await)
        .await
        .expect("db")
    else {
        return false;
    };
    let p = posmul_economy::wave::proof(pool, &current, account)
        .await
        .expect("db")
        .expect("a leaf");
    MoneyWave::new(c.deployment.money_wave, &c.claimer)
        .claim(account, p.cumulative_amount.as_u256(), p.proof)
        .send()
        .await
        .expect("claim sent")
        .get_receipt()
        .await
        .expect("claim mined")
        .status()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m6_a_revoked_root_is_published_again_and_claimable_only_after_its_delay(pool: PgPool) {
    let mut c = chain(1_000_000).await;
    c.start_miner();
    set_root_delay(&c, DELAY).await;
    let r = c.relayer(&pool).await;
    let alice = addr(0xa1);
    let ua = user(&pool, Some(alice)).await;
    let first = credit(&pool, &r, ua, 10, 0).await;
    c.end_day(0).await;
    assert_eq!(r.catch_up().await.expect("catch up"), vec![0]);
    let revoked = wave::load(&pool, 0).await.expect("db").expect("wave 0");

    // Pending: not offered for claims, but named with the time it becomes claimable.
    let now = chain_now(&c).await;
    assert_eq!(
        posmul_economy::wave::current(&pool, 31337, now)
            .await
            .expect("db"),
        None
    );
    let pending = posmul_economy::wave::pending(&pool, 31337, now)
        .await
        .expect("db")
        .expect("a pending wave");
    assert_eq!((pending.day, pending.root), (0, revoked.root));
    assert!(pending.claimable_at > now);
    let standing = posmul_economy::wave::balance(&pool, 31337, now, alice)
        .await
        .expect("db");
    assert_eq!(
        standing.claimable(),
        Wei::ZERO,
        "nothing claimable while pending"
    );

    // The guardian (anvil's account 0 here) revokes; the relayer rebuilds day 0 and publishes it again.
    c.money_wave()
        .revokePendingRoot()
        .send()
        .await
        .expect("revoke sent")
        .get_receipt()
        .await
        .expect("revoke mined");
    assert_eq!(c.money_wave().nextDay().call().await.expect("nextDay"), 0);
    assert_eq!(r.catch_up().await.expect("catch up"), vec![0]);
    let again = wave::load(&pool, 0)
        .await
        .expect("db")
        .expect("wave 0 again");
    assert_eq!(again.status, Status::Finalized);
    assert_ne!(
        again.tx_hash, revoked.tx_hash,
        "published by a new transaction"
    );
    assert_eq!(again.amount, Wei::from_pmc(10));
    assert_eq!(c.published_days().await, vec![0, 0]);
    let record =
        sqlx::query!("SELECT day, status, root, first_day, last_day FROM relayer.wave_revocations")
            .fetch_all(&pool)
            .await
            .expect("db");
    assert_eq!(record.len(), 1);
    assert_eq!(
        (record[0].day, record[0].first_day, record[0].last_day),
        (0, 0, 0)
    );
    assert_eq!(record[0].root, revoked.root.to_vec());
    let state = sqlx::query_scalar!("SELECT state FROM credits.credits WHERE id = $1", first)
        .fetch_one(&pool)
        .await
        .expect("db");
    assert_eq!(
        state, "in_wave",
        "the credit is in the wave published again"
    );

    // Still pending: claims wait for the delay, then work.
    assert!(
        !claim(&c, &pool, alice).await,
        "nothing to claim before the delay"
    );
    pass(&c, DELAY).await;
    assert!(claim(&c, &pool, alice).await);
    let pmc = posmul_core::bindings::PMC::new(c.deployment.pmc, c.local.admin());
    assert_eq!(
        pmc.balanceOf(alice).call().await.expect("balance"),
        Wei::from_pmc(10).as_u256()
    );
    assert_reconciled(&r).await;
}

/// A watcher over `c` signing as `guardian` (when given), reading `pool` and the relayer's
/// export directory, as the relayer's database role (as `script/dev` runs it).
async fn watcher(c: &Chain, pool: &PgPool, guardian: Option<usize>) -> Watcher {
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect(&c.local.url())
        .await
        .expect("provider")
        .erased();
    Watcher {
        pool: posmul_testkit::roles::pool_as(pool, posmul_core::db::ServiceRole::Relayer, 2).await,
        provider,
        chain_id: 31337,
        money_wave: c.deployment.money_wave,
        deployment_block: 0,
        export_dir: c.export_dir.clone(),
        guardian: guardian.map(|i| c.local.keys()[i].clone()),
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m6_a_root_published_with_a_stolen_relayer_key_is_revoked_by_the_watcher(pool: PgPool) {
    let mut c = chain(1_000_000).await;
    c.start_miner();
    set_root_delay(&c, DELAY).await;
    // The guardian is another key than the relayer's (anvil's account 2).
    let guardian = c.local.keys()[2].address();
    let mw = c.money_wave();
    let role = mw.GUARDIAN_ROLE().call().await.expect("role");
    mw.grantRole(role, guardian)
        .send()
        .await
        .expect("grant sent")
        .get_receipt()
        .await
        .expect("grant mined");
    let r: Relayer = c.relayer(&pool).await;
    let alice = addr(0xa1);
    let ua = user(&pool, Some(alice)).await;
    credit(&pool, &r, ua, 10, 0).await;
    c.end_day(0).await;
    assert_eq!(r.catch_up().await.expect("catch up"), vec![0]);
    let w = watcher(&c, &pool, Some(2)).await;

    // The honest root: the file and the database agree with the chain; nothing is revoked.
    let honest = w.check().await.expect("check").expect("a pending root");
    assert_eq!((honest.day, honest.mismatches.len()), (0, 0), "{honest:?}");
    assert_eq!(honest.revoked_by, None);
    pass(&c, DELAY).await;
    assert_eq!(w.check().await.expect("check"), None, "nothing pending");

    // The relayer key publishes day 1 itself: 1,000 PMC to the attacker, beside alice's 10.
    c.end_day(1).await;
    let attacker = addr(0xee);
    let values = vec![
        (alice, Wei::from_pmc(10).as_u256()),
        (attacker, Wei::from_pmc(1000).as_u256()),
    ];
    let tree = StandardMerkleTree::build(values).expect("tree");
    mw.publishWave(
        1,
        tree.root(),
        Wei::from_pmc(1000).as_u256(),
        keccak256(b"whatever"),
        Wei::from_pmc(1010).as_u256(),
    )
    .send()
    .await
    .expect("publish sent")
    .get_receipt()
    .await
    .expect("publish mined");
    let found = w.check().await.expect("check").expect("a pending root");
    assert_eq!((found.day, found.root), (1, tree.root()));
    assert!(!found.mismatches.is_empty());
    assert!(found.revoked_by.is_some(), "revoked: {found:?}");
    assert_eq!(mw.nextDay().call().await.expect("nextDay"), 1);
    let (pending, ..) = {
        let p = mw.pendingRoot().call().await.expect("pending");
        (p.root, p.firstDay)
    };
    assert_eq!(pending, B256::ZERO);

    // The attacker's proof never pays, even after the delay would have passed.
    pass(&c, DELAY).await;
    let proof = tree.proof(1).expect("the attacker's proof");
    let attempt = MoneyWave::new(c.deployment.money_wave, &c.claimer)
        .claim(attacker, Wei::from_pmc(1000).as_u256(), proof)
        .send()
        .await;
    let paid = match attempt {
        Ok(p) => p.get_receipt().await.map(|r| r.status()).unwrap_or(false),
        Err(_) => false,
    };
    assert!(!paid, "the revoked root pays nothing");

    // The relayer publishes the honest day 1, which the watcher does not flag.
    assert_eq!(r.catch_up().await.expect("catch up"), vec![1]);
    let honest = w.check().await.expect("check").expect("a pending root");
    assert_eq!((honest.day, honest.mismatches.len()), (1, 0), "{honest:?}");
    assert_reconciled(&r).await;
}
