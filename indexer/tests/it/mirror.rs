//! (a) Transfers, waves, claims, delegations and donations made with the real contracts are all
//! mirrored; every holder's mirrored balance equals `balanceOf`, their sum equals `totalSupply`,
//! and the balance at any block N equals `balanceOf` at N.

use alloy::{
    primitives::{B256, U256, keccak256},
    providers::{Provider, ext::AnvilApi},
};
use posmul_core::{
    WalletAddress,
    bindings::{DonationHub, MoneyWave, PMC},
    merkle::StandardMerkleTree,
};
use posmul_testkit::DAILY_CAP_PMC;
use sqlx::PgPool;

use crate::support::*;

fn pmc(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

macro_rules! send {
    ($call:expr) => {{
        let receipt = $call
            .send()
            .await
            .expect("send")
            .get_receipt()
            .await
            .expect("receipt");
        assert!(receipt.status(), "reverted: {}", stringify!($call));
        receipt
    }};
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn every_event_of_the_three_contracts_is_mirrored_and_balances_equal_balance_of(
    pool: PgPool,
) {
    let chain = LocalChain::with_slots_in_an_epoch(4);
    let signers = &chain.keys()[..5];
    let [alice, bob, carol, institute] = [1, 2, 3, 4].map(|i| signers[i].address());
    let p = chain.wallets(signers);

    // Deployed as script/Deploy.s.sol does: the admin also holds MoneyWave's relayer and
    // guardian roles.
    let deployment = chain.deploy(DAILY_CAP_PMC).await;
    let deployment_block = deployment.deployment_block;
    let token = PMC::new(deployment.pmc, &p);
    let wave = MoneyWave::new(deployment.money_wave, &p);
    let hub = DonationHub::new(deployment.donation_hub, &p);
    let indexer = Running::start(test_config(vec![chain.url()]), &deployment, pool.clone()).await;

    // A wave of day 0 for alice and bob, claims (permissionless: the admin claims for them).
    p.anvil_increase_time(86_400).await.expect("a day passes");
    let tree = StandardMerkleTree::build(vec![(alice, pmc(1_000)), (bob, pmc(500))]).expect("tree");
    send!(wave.publishWave(0, tree.root(), pmc(1_500), B256::repeat_byte(7), pmc(1_500)));
    send!(wave.claim(alice, pmc(1_000), tree.proof(0).expect("proof")));
    send!(wave.claim(bob, pmc(500), tree.proof(1).expect("proof")));
    send!(wave.pause());
    send!(wave.unpause());
    send!(wave.setDailyCap(pmc(2_000_000)));

    // Transfers and delegation.
    send!(token.transfer(carol, pmc(100)).from(alice));
    send!(token.delegate(alice).from(alice));
    send!(token.delegate(alice).from(bob));
    send!(token.transfer(carol, pmc(50)).from(bob));

    // A donation to a registered institute.
    send!(hub.addRecipient(institute, 0));
    send!(token.approve(*hub.address(), pmc(200)).from(alice));
    send!(
        hub.donate(U256::from(1), pmc(150), keccak256("thanks"))
            .from(alice)
    );

    chain.mine(12).await;
    wait_at_head(&pool, &chain, 60).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;

    // Each kind of event landed in its table.
    let counts = event_counts(&pool).await;
    let count = |table: &str| counts[table];
    assert_eq!(count("waves_published"), 1);
    assert_eq!(count("wave_claims"), 2);
    assert_eq!(
        count("wave_cap_changes"),
        2,
        "constructor cap and setDailyCap"
    );
    assert_eq!(count("pause_changes"), 2);
    assert_eq!(count("pmc_delegate_changes"), 2);
    assert!(count("pmc_delegate_votes") >= 3);
    assert_eq!(count("donation_recipients"), 1);
    assert_eq!(count("donations"), 1);
    assert!(
        count("role_changes") >= 4,
        "admin roles of MoneyWave and DonationHub, relayer, guardian"
    );
    let d = sqlx::query!(
        r#"SELECT recipient_id::text AS "id!", amount::text AS "amount!", donor AS "donor: WalletAddress"
           FROM chain.donations"#
    )
    .fetch_one(&pool)
    .await
    .expect("donation");
    assert_eq!(
        (d.id, d.amount, d.donor.get()),
        ("1".to_owned(), pmc(150).to_string(), alice)
    );

    // Balances: every holder equals balanceOf, and the sum equals totalSupply.
    let rows = sqlx::query!(
        r#"SELECT address AS "address: WalletAddress", balance::text AS "balance!" FROM chain.pmc_balances"#
    )
    .fetch_all(&pool)
    .await
    .expect("balances");
    let mut sum = U256::ZERO;
    for r in &rows {
        let address = r.address.get();
        let mirrored: U256 = r.balance.parse().expect("balance");
        assert_eq!(
            mirrored,
            token.balanceOf(address).call().await.expect("balanceOf"),
            "balance of {address}"
        );
        sum += mirrored;
    }
    assert_eq!(sum, token.totalSupply().call().await.expect("totalSupply"));
    for holder in [alice, bob, carol, institute, *wave.address()] {
        assert!(
            rows.iter().any(|r| r.address.get() == holder),
            "{holder} has a row"
        );
    }

    // The balance valid at any indexed block N equals balanceOf at N; rows are final up to the
    // cursor's finalized block and not above.
    let cursor = sqlx::query!("SELECT indexed_block, finalized_block FROM chain.cursors")
        .fetch_one(&pool)
        .await
        .expect("cursor");
    let (indexed_block, finalized_block) = (cursor.indexed_block, cursor.finalized_block);
    assert!(finalized_block >= deployment_block as i64 && finalized_block < indexed_block);
    for n in deployment_block..=indexed_block as u64 {
        for holder in [alice, bob, carol] {
            let at = sqlx::query_scalar!(
                r#"SELECT chain.pmc_balance_at($1, $2, $3)::text AS "at!""#,
                CHAIN_ID as i64,
                holder.as_slice(),
                n as i64,
            )
            .fetch_one(&pool)
            .await
            .expect("balance at");
            let chain_at = token
                .balanceOf(holder)
                .block(n.into())
                .call()
                .await
                .expect("balanceOf at");
            assert_eq!(
                at.parse::<U256>().expect("number"),
                chain_at,
                "balance of {holder} at block {n}"
            );
        }
    }
    let wrong = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM chain.pmc_transfers WHERE finalized <> (block_number <= $1)"#,
        finalized_block,
    )
    .fetch_one(&pool)
    .await
    .expect("flags");
    assert_eq!(
        wrong, 0,
        "finalized flags follow the cursor's finalized block"
    );
    // Every event row carries its block's timestamp (the key of its monthly partition).
    let untimed = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM chain.pmc_transfers t
             LEFT JOIN chain.blocks b ON b.chain_id = t.chain_id AND b.number = t.block_number
            WHERE b."timestamp" IS DISTINCT FROM t.block_time"#,
    )
    .fetch_one(&pool)
    .await
    .expect("block times");
    assert_eq!(untimed, 0, "block_time is the block's timestamp");
    assert_eq!(indexer.get("/readyz").await.0, 200);
}

/// M6: RootDelayChanged, RootPending and RootRevoked land in their tables with their values, and a
/// reorg that takes a revocation back removes its row (the mirror follows the canonical chain).
#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m6_root_delay_pending_roots_and_revocations_are_mirrored_and_follow_a_reorg(pool: PgPool) {
    let chain = LocalChain::with_slots_in_an_epoch(4);
    let admin = chain.keys()[0].address();
    let alice = chain.keys()[1].address();
    let p = chain.admin().clone();
    let deployment = chain.deploy(DAILY_CAP_PMC).await;
    let wave = MoneyWave::new(deployment.money_wave, &p);
    let _indexer = Running::start(test_config(vec![chain.url()]), &deployment, pool.clone()).await;

    send!(wave.setRootDelay(U256::from(3_600)));
    p.anvil_increase_time(86_400).await.expect("a day passes");
    let tree = StandardMerkleTree::build(vec![(alice, pmc(1_000))]).expect("tree");
    let published =
        send!(wave.publishWave(0, tree.root(), pmc(1_000), B256::repeat_byte(7), pmc(1_000)));
    let at = p
        .get_block_by_number(published.block_number.expect("mined").into())
        .await
        .expect("block")
        .expect("exists")
        .header
        .timestamp;
    chain.mine(1).await;
    let before_revocation = chain.snapshot().await;
    send!(wave.revokePendingRoot());
    chain.mine(2).await;
    wait_at_head(&pool, &chain, 60).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;

    let delay = sqlx::query!(
        r#"SELECT previous_delay::text AS "previous!", new_delay::text AS "new!" FROM chain.root_delay_changes"#
    )
    .fetch_one(&pool)
    .await
    .expect("delay change");
    assert_eq!(
        (delay.previous, delay.new),
        ("0".to_owned(), "3600".to_owned())
    );
    let pending = sqlx::query!(
        r#"SELECT day, root, first_day, extract(epoch FROM claimable_at)::bigint AS "claimable_at!" FROM chain.root_pending"#
    )
    .fetch_one(&pool)
    .await
    .expect("pending root");
    assert_eq!(
        (
            pending.day,
            pending.root,
            pending.first_day,
            pending.claimable_at
        ),
        (0, tree.root().to_vec(), 0, at as i64 + 3_600)
    );
    let revoked = sqlx::query!(
        r#"SELECT first_day, last_day, root, burned::text AS "burned!", account FROM chain.root_revocations"#
    )
    .fetch_one(&pool)
    .await
    .expect("revocation");
    assert_eq!(
        (
            revoked.first_day,
            revoked.last_day,
            revoked.root,
            revoked.burned,
            revoked.account
        ),
        (
            0,
            0,
            tree.root().to_vec(),
            pmc(1_000).to_string(),
            admin.to_vec()
        )
    );

    // Another branch without the revocation, longer than the first.
    assert!(chain.revert(before_revocation).await, "reverted");
    chain.mine(6).await;
    wait_at_head(&pool, &chain, 60).await;
    assert_mirror_equals_chain(&pool, &chain, &deployment).await;
    assert_eq!(event_counts(&pool).await["root_revocations"], 0);
    assert_eq!(event_counts(&pool).await["root_pending"], 1);
}
