//! The relayer against a real anvil and a real PostgreSQL (M3, M4, M5). Each test gets a fresh
//! migrated database (`#[sqlx::test]`) and its own anvil with the contracts deployed.

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use posmul_core::{
    bindings::{MoneyWave, PMC},
    db::ServiceRole,
    deployment::Deployment,
    merkle::StandardMerkleTree,
    money::Wei,
};
use posmul_relayer::{
    Error, Relayer, claims,
    config::Settings,
    failpoint::Step,
    reconcile,
    wave::{self, Status},
};
use posmul_testkit::{LocalChain, Miner, roles::pool_as};
use sqlx::PgPool;
use uuid::Uuid;

/// The relayer over TLS, on this file's set-up.
#[path = "tls.rs"]
mod tls;

/// The relayer left running: chain checks, fee ceiling, gas wallet, late or rate-limited
/// nodes, lost exports, the binary's commands.
#[path = "safety.rs"]
mod safety;

/// The chain of one test, and what the relayer under test needs of it.
pub(crate) struct Chain {
    /// anvil; its account 0 deploys, administers and relays.
    pub(crate) local: LocalChain,
    pub(crate) deployment: Deployment,
    /// Signs as another account (anvil's account 1), e.g. a wallet that claims.
    pub(crate) claimer: DynProvider,
    pub(crate) export_dir: PathBuf,
    miner: Option<Miner>,
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.export_dir);
    }
}

fn settings(export_dir: &std::path::Path) -> Settings {
    Settings {
        poll_interval: Duration::from_millis(50),
        replace_after: Duration::from_millis(1500),
        gas_margin_percent: 20,
        priority_fee_floor_wei: None,
        finality_confirmations: 2,
        claim_batch_max: 10,
        export_dir: export_dir.to_owned(),
        ..Settings::default()
    }
}

/// anvil (finalized = latest − 2) with the contracts deployed, genesis = today's UTC midnight
/// of the chain's clock, the daily cap `cap_pmc` PMC.
pub(crate) async fn chain(cap_pmc: u64) -> Chain {
    let local = LocalChain::with_slots_in_an_epoch(1);
    let deployment = local.deploy(cap_pmc).await;
    chain_on(local, deployment)
}

/// [`chain`] around a chain already started and deployed.
pub(crate) fn chain_on(local: LocalChain, deployment: Deployment) -> Chain {
    let claimer = local.wallet(&local.keys()[1]);
    let export_dir = std::env::temp_dir().join(format!("posmul-waves-{}", Uuid::new_v4()));
    Chain {
        local,
        deployment,
        claimer,
        export_dir,
        miner: None,
    }
}

impl Chain {
    pub(crate) async fn relayer(&self, pool: &PgPool) -> Relayer {
        self.relayer_at(pool, &self.local.url()).await
    }

    async fn relayer_at(&self, pool: &PgPool, url: &str) -> Relayer {
        self.relayer_signing(pool, url, self.local.keys()[0].clone())
            .await
    }

    /// A relayer signing with `key` (which must hold MoneyWave's relayer role), over `pool`'s
    /// database as its role, `posmul_relayer`, as in production: a write outside its grants
    /// fails the test.
    pub(crate) async fn relayer_signing(
        &self,
        pool: &PgPool,
        url: &str,
        key: alloy::signers::local::PrivateKeySigner,
    ) -> Relayer {
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect(url)
            .await
            .expect("provider")
            .erased();
        Relayer::new(
            pool_as(pool, ServiceRole::Relayer, 5).await,
            provider,
            key,
            self.deployment.money_wave,
            0,
            settings(&self.export_dir),
        )
        .await
        .expect("relayer")
    }

    /// Mines a block every 50 ms, so finality (latest − 2) moves.
    pub(crate) fn start_miner(&mut self) {
        self.miner = Some(self.local.start_miner(Duration::from_millis(50)));
    }

    /// Moves the chain's clock past the end of `day`.
    pub(crate) async fn end_day(&self, day: u64) {
        self.local.end_day(&self.deployment, day).await;
    }

    pub(crate) fn money_wave(&self) -> MoneyWave::MoneyWaveInstance<&DynProvider> {
        MoneyWave::new(self.deployment.money_wave, self.local.admin())
    }

    /// Claims `account`'s leaf of the current root with the stored proof (sent by the third-party
    /// claimer: anyone may claim, the tokens go to `account`); returns the leaf's cumulative
    /// amount and `account`'s PMC balance afterwards.
    pub(crate) async fn claim_current(&self, pool: &PgPool, account: Address) -> (Wei, U256) {
        let p = current_proof(pool, account).await.expect("a leaf");
        MoneyWave::new(self.deployment.money_wave, &self.claimer)
            .claim(account, p.cumulative_amount.as_u256(), p.proof.clone())
            .send()
            .await
            .expect("claim sent")
            .get_receipt()
            .await
            .expect("claim mined");
        let balance = PMC::new(self.deployment.pmc, self.local.admin())
            .balanceOf(account)
            .call()
            .await
            .expect("balance");
        (p.cumulative_amount, balance)
    }

    pub(crate) async fn published_days(&self) -> Vec<u64> {
        let f = Filter::new()
            .address(self.deployment.money_wave)
            .event_signature(MoneyWave::WavePublished::SIGNATURE_HASH)
            .from_block(0);
        self.local
            .admin()
            .get_logs(&f)
            .await
            .expect("logs")
            .iter()
            .map(|l| {
                MoneyWave::WavePublished::decode_log(&l.inner)
                    .expect("event")
                    .data
                    .day
            })
            .collect()
    }
}

/// A user, optionally with a wallet.
pub(crate) async fn user(pool: &PgPool, wallet: Option<Address>) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query!("INSERT INTO auth.users (id) VALUES ($1)", id)
        .execute(pool)
        .await
        .expect("user");
    if let Some(a) = wallet {
        link(pool, id, a).await;
    }
    id
}

async fn link(pool: &PgPool, user: Uuid, a: Address) {
    sqlx::query!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
        a.as_slice(),
        user,
    )
    .execute(pool)
    .await
    .expect("wallet");
}

/// A pending PMC credit of `pmc` PMC on the date of MoneyWave day `day`.
pub(crate) async fn credit(
    pool: &PgPool,
    relayer: &Relayer,
    user: Uuid,
    pmc: u64,
    day: u64,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO credits.credits (id, user_id, source, amount, day, reference_kind, reference_id, idempotency_key)
         VALUES ($1, $2, 'prediction_win', $3, $4, 'game', $5, $6)",
        id,
        user,
        Wei::from_pmc(pmc) as _,
        relayer.date_of(day).expect("date"),
        Uuid::new_v4(),
        format!("test:{id}"),
    )
    .execute(pool)
    .await
    .expect("credit");
    id
}

pub(crate) fn addr(i: u8) -> Address {
    Address::repeat_byte(i)
}

pub(crate) async fn assert_reconciled(relayer: &Relayer) {
    let report = reconcile::reconcile(relayer).await.expect("reconcile runs");
    assert!(report.is_clean(), "{:#?}", report.problems);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m3_m4_m5_a_full_day_is_published_proved_and_claimed(pool: PgPool) {
    let mut c = chain(1_000_000).await;
    c.start_miner();
    let r = c.relayer(&pool).await;
    let (alice, bob) = (addr(0xa1), addr(0xb0));
    let ua = user(&pool, Some(alice)).await;
    let ub = user(&pool, Some(bob)).await;
    credit(&pool, &r, ua, 10, 0).await;
    credit(&pool, &r, ub, 5, 0).await;
    credit(&pool, &r, ua, 2, 0).await;

    // The day has not ended: nothing is built.
    assert_eq!(r.catch_up().await.expect("catch up"), Vec::<u64>::new());
    assert!(wave::latest(&pool).await.expect("db").is_none());

    c.end_day(0).await;
    assert_eq!(r.catch_up().await.expect("catch up"), vec![0]);
    let w = wave::load(&pool, 0).await.expect("db").expect("wave 0");
    assert_eq!(w.status, Status::Finalized);
    assert_eq!(w.amount, Wei::from_pmc(17));
    assert_eq!(
        c.money_wave().currentRoot().call().await.expect("root"),
        w.root
    );
    assert_eq!(c.published_days().await, vec![0]);
    println!(
        "gas used by publishWave (day 0, 2 leaves): {:?}",
        w.gas_used
    );

    // The export is an @openzeppelin/merkle-tree dump of the same root.
    let dump = std::fs::read(wave::export_path(&c.export_dir, 31337, 0)).expect("export written");
    let tree = StandardMerkleTree::load(&serde_json::from_slice(&dump).expect("json"))
        .expect("valid dump");
    assert_eq!(tree.root(), w.root);

    // Anyone can claim for alice with the stored proof; the tokens go to alice.
    assert_eq!(
        c.claim_current(&pool, alice).await,
        (Wei::from_pmc(12), Wei::from_pmc(12).as_u256())
    );
    let pmc = PMC::new(c.deployment.pmc, c.local.admin());

    // Bob asks the relayer to claim for him: a claimMany batch.
    posmul_economy::claims::enqueue(&pool, ub, bob)
        .await
        .expect("queued");
    assert_eq!(claims::process_queue(&r).await.expect("batch"), 1);
    assert_eq!(
        pmc.balanceOf(bob).call().await.expect("balance"),
        Wei::from_pmc(5).as_u256()
    );
    assert_reconciled(&r).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m4_a_crash_at_any_step_still_publishes_exactly_one_wave_per_day(pool: PgPool) {
    let mut c = chain(1_000_000).await;
    c.start_miner();
    let u = user(&pool, Some(addr(7))).await;
    let steps = [
        Step::BeforeSign,
        Step::AfterSignBeforeBroadcast,
        Step::AfterBroadcastBeforeReceipt,
        Step::AfterReceiptBeforeDbUpdate,
    ];
    for (day, step) in steps.into_iter().enumerate() {
        let day = day as u64;
        let crashing = c.relayer(&pool).await;
        credit(&pool, &crashing, u, day + 1, day).await;
        c.end_day(day).await;
        crashing.failpoints().arm(step);
        match crashing.catch_up().await {
            Err(Error::Failpoint(s)) => assert_eq!(s, step),
            other => panic!("expected a crash at {step:?}, got {other:?}"),
        }
        drop(crashing);
        let restarted = c.relayer(&pool).await;
        assert_eq!(
            restarted.catch_up().await.expect("restart finishes"),
            vec![day],
            "after {step:?}"
        );
        let w = wave::load(&pool, day).await.expect("db").expect("wave");
        assert_eq!(
            (w.status, w.amount),
            (Status::Finalized, Wei::from_pmc(day + 1)),
            "after {step:?}"
        );
    }
    assert_eq!(c.published_days().await, vec![0, 1, 2, 3]);
    let r = c.relayer(&pool).await;
    assert_reconciled(&r).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m4_two_relayers_started_together_publish_one_wave(pool: PgPool) {
    let mut c = chain(1_000_000).await;
    c.start_miner();
    let (r1, r2) = (c.relayer(&pool).await, c.relayer(&pool).await);
    let u = user(&pool, Some(addr(9))).await;
    credit(&pool, &r1, u, 3, 0).await;
    c.end_day(0).await;
    let (a, b) = tokio::join!(r1.catch_up(), r2.catch_up());
    let mut done: Vec<u64> = a
        .expect("first")
        .into_iter()
        .chain(b.expect("second"))
        .collect();
    done.sort();
    assert_eq!(done, vec![0]);
    assert_eq!(c.published_days().await, vec![0]);
    let attempts = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM relayer.tx_attempts"#)
        .fetch_one(&pool)
        .await
        .expect("db");
    assert_eq!(attempts, 1);
    assert_reconciled(&r1).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_unmined_transaction_is_replaced_with_higher_fees_and_a_dropped_one_resent(
    pool: PgPool,
) {
    let mut c = chain(1_000_000).await;
    let r = c.relayer(&pool).await;
    let u = user(&pool, Some(addr(3))).await;
    credit(&pool, &r, u, 4, 0).await;
    c.end_day(0).await;
    c.local
        .admin()
        .anvil_set_auto_mine(false)
        .await
        .expect("automine off");
    let task = tokio::spawn({
        let r = r.clone();
        async move { r.catch_up().await }
    });
    // Wait for the replacement (nothing is mined, so after replace_after the sender re-signs).
    let fees = loop {
        let rows: Vec<(Vec<u8>, String, String, i64)> = sqlx::query!(
            r#"SELECT tx_hash, max_fee_per_gas::text AS "max_fee!", max_priority_fee_per_gas::text AS "prio!", nonce
               FROM relayer.tx_attempts ORDER BY id"#
        )
        .fetch_all(&pool)
        .await
        .expect("db")
        .into_iter()
        .map(|r| (r.tx_hash, r.max_fee, r.prio, r.nonce))
        .collect();
        if rows.len() >= 2 {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fee = |i: usize, j: usize| -> u128 {
        let row = &fees[i];
        if j == 1 {
            row.1.parse().expect("fee")
        } else {
            row.2.parse().expect("fee")
        }
    };
    assert_eq!(fees[0].3, fees[1].3, "a replacement keeps the nonce");
    assert!(
        fee(1, 1) * 10 >= fee(0, 1) * 11 && fee(1, 2) * 10 >= fee(0, 2) * 11,
        "both fees +10 %"
    );
    // The node loses the replacement: the relayer sends it again, then it is mined.
    let latest = alloy::primitives::B256::from_slice(&fees[1].0);
    c.local
        .admin()
        .anvil_drop_transaction(latest)
        .await
        .expect("drop");
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.local
        .admin()
        .anvil_set_auto_mine(true)
        .await
        .expect("automine on");
    c.start_miner();
    let done = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("finishes")
        .expect("task");
    assert_eq!(done.expect("published"), vec![0]);
    assert_eq!(c.published_days().await, vec![0]);
    let mined = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM relayer.tx_attempts WHERE status = 'mined'"#
    )
    .fetch_one(&pool)
    .await
    .expect("db");
    assert_eq!(mined, 1);
    assert_reconciled(&r).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m3_credits_over_the_cap_carry_to_the_next_day_in_order(pool: PgPool) {
    let mut c = chain(100).await;
    c.start_miner();
    let r = c.relayer(&pool).await;
    let (u1, u2, u3) = (
        user(&pool, Some(addr(1))).await,
        user(&pool, Some(addr(2))).await,
        user(&pool, Some(addr(3))).await,
    );
    credit(&pool, &r, u1, 60, 0).await;
    let second = credit(&pool, &r, u2, 50, 0).await;
    credit(&pool, &r, u3, 10, 0).await;
    c.end_day(0).await;
    r.catch_up().await.expect("day 0");
    let w0 = wave::load(&pool, 0).await.expect("db").expect("wave 0");
    assert_eq!(
        (w0.amount, w0.credit_count),
        (Wei::from_pmc(100), 2),
        "40 of the 50 fill the wave (M8); its rest stays ahead of the 10"
    );
    let state = sqlx::query_scalar!("SELECT state FROM credits.credits WHERE id = $1", second)
        .fetch_one(&pool)
        .await
        .expect("db");
    assert_eq!(state, "pending");
    c.end_day(1).await;
    r.catch_up().await.expect("day 1");
    let w1 = wave::load(&pool, 1).await.expect("db").expect("wave 1");
    assert_eq!(
        (w1.amount, w1.credit_count, w1.total_cumulative),
        (Wei::from_pmc(20), 2, Wei::from_pmc(120))
    );
    let wave_day =
        sqlx::query_scalar!("SELECT wave_day FROM credits.credits WHERE id = $1", second)
            .fetch_one(&pool)
            .await
            .expect("db");
    assert_eq!(wave_day, Some(r.date_of(1).expect("date")));
    assert_reconciled(&r).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m4_missed_days_are_caught_up_in_order_and_an_empty_day_gets_a_zero_wave(pool: PgPool) {
    let mut c = chain(1_000).await;
    c.start_miner();
    let r = c.relayer(&pool).await;
    let u = user(&pool, Some(addr(5))).await;
    credit(&pool, &r, u, 1, 0).await;
    credit(&pool, &r, u, 2, 1).await;
    c.end_day(2).await;
    assert_eq!(r.catch_up().await.expect("catch up"), vec![0, 1, 2]);
    assert_eq!(c.published_days().await, vec![0, 1, 2]);
    let amounts: Vec<Wei> = wave::all(&pool)
        .await
        .expect("db")
        .iter()
        .map(|w| w.amount)
        .collect();
    assert_eq!(amounts, vec![Wei::from_pmc(1), Wei::from_pmc(2), Wei::ZERO]);
    let p = current_proof(&pool, addr(5)).await.expect("leaf");
    assert_eq!((p.day, p.cumulative_amount), (2, Wei::from_pmc(3)));
    assert_reconciled(&r).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m4_a_user_without_a_wallet_waits_then_receives_everything_owed(pool: PgPool) {
    let mut c = chain(1_000).await;
    c.start_miner();
    let r = c.relayer(&pool).await;
    let late = user(&pool, None).await;
    let other = user(&pool, Some(addr(8))).await;
    credit(&pool, &r, late, 4, 0).await;
    credit(&pool, &r, other, 1, 0).await;
    c.end_day(0).await;
    r.catch_up().await.expect("day 0");
    assert_eq!(
        wave::load(&pool, 0).await.expect("db").expect("w").amount,
        Wei::from_pmc(1)
    );
    credit(&pool, &r, late, 6, 1).await;
    link(&pool, late, addr(0x1a)).await;
    c.end_day(1).await;
    r.catch_up().await.expect("day 1");
    let p = current_proof(&pool, addr(0x1a)).await.expect("leaf");
    assert_eq!(p.cumulative_amount, Wei::from_pmc(10));
    assert_reconciled(&r).await;
}

/// A TCP proxy that can refuse connections, to cut the relayer off its node.
async fn proxy(upstream: String) -> (String, Arc<std::sync::atomic::AtomicBool>) {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let target = upstream.trim_start_matches("http://").to_owned();
    let flag = up.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                drop(inbound);
                continue;
            }
            let (target, flag) = (target.clone(), flag.clone());
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                    // An outage also cuts the connections already open.
                    let cut = async {
                        while flag.load(std::sync::atomic::Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                        _ = cut => {}
                    }
                }
            });
        }
    });
    (url, up)
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_rpc_outage_only_delays_the_wave(pool: PgPool) {
    let mut c = chain(1_000).await;
    c.start_miner();
    let (url, up) = proxy(c.local.url()).await;
    let r = c.relayer_at(&pool, &url).await;
    let u = user(&pool, Some(addr(4))).await;
    credit(&pool, &r, u, 2, 0).await;
    c.end_day(0).await;
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        matches!(r.catch_up().await, Err(Error::Rpc(_) | Error::Contract(_))),
        "the node is unreachable"
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn({
        let r = r.clone();
        async move {
            r.run(async {
                let _ = stop_rx.await;
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if wave::load(&pool, 0)
            .await
            .expect("db")
            .is_some_and(|w| w.status == Status::Finalized)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the wave was not finalized after the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    runner.await.expect("task").expect("run stops cleanly");
    assert_eq!(c.published_days().await, vec![0]);
}

/// The proof of `account` against the current root of the local chain, from the money book.
pub(crate) async fn current_proof(
    pool: &PgPool,
    account: Address,
) -> Option<posmul_economy::wave::ClaimProof> {
    // Roots are claimable at once here (root delay 0): any time after the last wave will do.
    let later = chrono::DateTime::parse_from_rfc3339("9999-01-01T00:00:00Z")
        .expect("a time")
        .to_utc();
    let current = posmul_economy::wave::current(pool, 31337, later)
        .await
        .expect("db")?;
    posmul_economy::wave::proof(pool, &current, account)
        .await
        .expect("db")
}
