//! Issue 5 §7, first bullet, across every service: users earn PMC credits (the API's credit
//! ledger) → the chain's clock passes the day's end → the relayer publishes wave 0 → the proof
//! from `GET /v1/me/pmc/claim` verifies → the claims succeed on chain (one sent by the wallet
//! itself, one by the relayer through `claim-for-me`) → the indexer mirrors the claims and the
//! balances → the credits turn `claimed` (E3) → `GET /v1/me/wallet` agrees with the chain.
//!
//! Real anvil (`node_modules/.bin/anvil`, the finalized block two behind the head), real
//! PostgreSQL (a fresh database from `#[sqlx::test]`), the contracts deployed from the bytecode
//! in `contracts/abi`, the API, the relayer loop and the indexer all running in this process.

use std::{future::Future, path::PathBuf, time::Duration};

use alloy::{
    network::EthereumWallet,
    node_bindings::Anvil,
    primitives::{Address, B256, U256},
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    signers::{Signer, local::PrivateKeySigner},
};
use chrono::{SecondsFormat, Utc};
use posmul_api::{
    credits::{self, CreditRequest, CreditSource},
    ledger::{Reference, ReferenceKind},
    testing::{TestApp, TestUser, spawn_app},
};
use posmul_core::{
    bindings::{DonationHub, MoneyWave, PMC},
    deployment::Deployment,
    merkle,
    money::Wei,
};
use posmul_indexer::{Finality, Indexer, IndexerConfig};
use posmul_relayer::{Relayer, config::Settings, publisher::DAY, reconcile};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const CHAIN_ID: u64 = 31337;

fn pmc(n: &str) -> Wei {
    Wei::parse_pmc(n).expect("a PMC amount")
}

fn anvil_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil")
}

/// Polls `cond` every 100 ms for up to `secs` seconds.
async fn wait_for<F, Fut>(what: &str, secs: u64, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Links `wallet` to `user` through the API (Sign-In with Ethereum message, U2).
async fn link_wallet(app: &TestApp, user: &TestUser, wallet: &PrivateKeySigner) {
    let n: Value = app
        .client
        .get(app.url("/v1/auth/siwe/nonce"))
        .send()
        .await
        .expect("nonce request")
        .json()
        .await
        .expect("nonce");
    let text = format!(
        "{} wants you to sign in with your Ethereum account:\n{}\n\nSign in to PosMul.\n\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
        n["domain"].as_str().expect("domain"),
        wallet.address().to_checksum(None),
        n["uri"].as_str().expect("uri"),
        n["chain_id"].as_u64().expect("chain id"),
        n["nonce"].as_str().expect("nonce"),
        Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    let signature = wallet
        .sign_message(text.as_bytes())
        .await
        .expect("signature");
    let res = app
        .client
        .post(app.url("/v1/me/wallets/link"))
        .bearer_auth(&user.access_token)
        .json(&json!({ "message": text, "signature": alloy::hex::encode_prefixed(signature.as_bytes()) }))
        .send()
        .await
        .expect("link request");
    assert!(
        res.status().is_success(),
        "link: {}",
        res.text().await.unwrap_or_default()
    );
}

/// A PMC credit through the API's credit ledger (as a prediction win would issue it).
async fn earn(db: &PgPool, user: &TestUser, amount: Wei, day: chrono::NaiveDate) {
    let mut tx = db.begin().await.expect("tx");
    credits::issue(
        &mut tx,
        CreditRequest {
            user_id: user.user_id,
            source: CreditSource::PredictionWin,
            amount,
            day,
            reference: Reference {
                kind: ReferenceKind::Prediction,
                id: Uuid::new_v4(),
            },
            idempotency_key: format!("prediction:{}", Uuid::new_v4()),
        },
    )
    .await
    .expect("credit issued");
    tx.commit().await.expect("commit");
}

async fn get(app: &TestApp, user: &TestUser, path: &str) -> Value {
    let res = app
        .client
        .get(app.url(path))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("json")
}

fn wei(v: &Value) -> U256 {
    v["wei"]
        .as_str()
        .expect("a wei string")
        .parse()
        .expect("U256")
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn issue5_a_full_day_from_credits_to_the_wallet_view(pool: PgPool) {
    // ── The chain: anvil with PMC, MoneyWave (day 0 = today of the chain's clock), DonationHub.
    let anvil = Anvil::at(anvil_path())
        .arg("--slots-in-an-epoch")
        .arg("1")
        .try_spawn()
        .expect("anvil starts");
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
    let (relayer_key, alice_key, bob_key) = (keys[0].clone(), keys[1].clone(), keys[2].clone());
    let admin = ProviderBuilder::new()
        .wallet(EthereumWallet::from(relayer_key.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let me = relayer_key.address();
    let deployment_block = admin.get_block_number().await.expect("head") + 1;
    let nonce = admin.get_transaction_count(me).await.expect("nonce");
    let now = admin
        .get_block_by_number(Default::default())
        .await
        .expect("block")
        .expect("latest")
        .header
        .timestamp;
    let genesis = now / DAY * DAY;
    let token = PMC::deploy(&admin, pmc("21000000000").0, me.create(nonce + 1))
        .await
        .expect("PMC deploys");
    let wave = MoneyWave::deploy(
        &admin,
        *token.address(),
        U256::from(genesis),
        pmc("1000000").0,
        me,
    )
    .await
    .expect("MoneyWave deploys");
    let hub = DonationHub::deploy(&admin, *token.address(), me)
        .await
        .expect("DonationHub deploys");
    let role = wave.RELAYER_ROLE().call().await.expect("role");
    wave.grantRole(role, me)
        .send()
        .await
        .expect("grant")
        .get_receipt()
        .await
        .expect("granted");
    let deployment = Deployment {
        chain_id: CHAIN_ID,
        pmc: *token.address(),
        money_wave: *wave.address(),
        donation_hub: *hub.address(),
        deployment_block,
        genesis,
        max_supply: None,
        daily_cap: None,
    };
    // Blocks keep coming (every 100 ms), so the finalized block moves.
    let miner = {
        let p = admin.clone();
        tokio::spawn(async move {
            loop {
                let _ = p.anvil_mine(Some(1), None).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // ── The services: API, indexer, relayer loop, over the same database and chain.
    let app = spawn_app(pool.clone()).await;
    let mut config = IndexerConfig::local(CHAIN_ID, vec![anvil.endpoint()]);
    config.http_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.poll_interval = Duration::from_millis(50);
    config.finality = Finality::Tag;
    config.retry_base = Duration::from_millis(20);
    config.retry_max = Duration::from_millis(300);
    config.standby_poll = Duration::from_millis(100);
    let indexer = Indexer::build(config, &deployment, pool.clone())
        .await
        .expect("indexer builds");
    let indexer = tokio::spawn(indexer.run());
    let export_dir = std::env::temp_dir().join(format!("posmul-full-day-{}", Uuid::new_v4()));
    let relayer = Relayer::new(
        pool.clone(),
        ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect(&anvil.endpoint())
            .await
            .expect("provider")
            .erased(),
        relayer_key.clone(),
        *wave.address(),
        deployment_block,
        Settings {
            poll_interval: Duration::from_millis(100),
            replace_after: Duration::from_secs(5),
            gas_margin_percent: 20,
            priority_fee_floor_wei: None,
            finality_confirmations: 2,
            claim_batch_max: 10,
            export_dir: export_dir.clone(),
        },
    )
    .await
    .expect("relayer");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relayer_loop = {
        let r = relayer.clone();
        tokio::spawn(async move {
            r.run(None, async {
                let _ = stopped.await;
            })
            .await
        })
    };

    // ── Users earn credits on day 0 and link their wallets.
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    link_wallet(&app, &alice, &alice_key).await;
    link_wallet(&app, &bob, &bob_key).await;
    let day0 = relayer.date_of(0).expect("day 0");
    earn(&pool, &alice, pmc("10"), day0).await;
    earn(&pool, &alice, pmc("2.5"), day0).await;
    earn(&pool, &bob, pmc("5"), day0).await;
    let w = get(&app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["pending"]), pmc("12.5").0);
    assert_eq!(wei(&w["pmc_claimable"]), U256::ZERO);

    // ── The chain's clock passes the end of day 0: the relayer publishes wave 0.
    admin
        .anvil_set_next_block_timestamp(genesis + DAY)
        .await
        .expect("time");
    admin.anvil_mine(Some(1), None).await.expect("mine");
    wait_for("wave 0 final", 60, || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM relayer.waves WHERE day = 0")
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
            .as_deref()
            == Some("finalized")
    })
    .await;
    let root = wave.currentRoot().call().await.expect("root");
    let w = get(&app, &alice, "/v1/me/wallet").await;
    assert_eq!(wei(&w["credits"]["pending"]), U256::ZERO);
    assert_eq!(wei(&w["credits"]["in_wave"]), pmc("12.5").0);
    assert_eq!(wei(&w["pmc_claimable"]), pmc("12.5").0);

    // ── Alice's wallet claims itself with the proof from the API; it verifies first.
    let claim = get(&app, &alice, "/v1/me/pmc/claim").await;
    assert_eq!(claim["contract"], wave.address().to_checksum(None));
    assert_eq!(claim["chainId"], CHAIN_ID);
    let served_root: B256 = claim["root"].as_str().expect("root").parse().expect("word");
    assert_eq!(served_root, root, "the API serves the root MoneyWave holds");
    let c = &claim["claims"][0];
    let account: Address = c["account"]
        .as_str()
        .expect("account")
        .parse()
        .expect("address");
    assert_eq!(account, alice_key.address());
    let cumulative = wei(&c["cumulativeAmount"]);
    assert_eq!(cumulative, pmc("12.5").0);
    let proof: Vec<B256> = c["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| h.as_str().expect("hex").parse().expect("word"))
        .collect();
    assert!(merkle::verify(root, account, cumulative, &proof));
    let alice_chain = ProviderBuilder::new()
        .wallet(EthereumWallet::from(alice_key.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let receipt = MoneyWave::new(*wave.address(), &alice_chain)
        .claim(account, cumulative, proof)
        .send()
        .await
        .expect("claim sent")
        .get_receipt()
        .await
        .expect("claim mined");
    assert!(receipt.status(), "the claim succeeds on chain");

    // ── Bob asks the relayer to claim for him (gas sponsored, claimMany).
    let res = app
        .client
        .post(app.url("/v1/me/pmc/claim-for-me"))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .expect("claim-for-me");
    assert_eq!(res.status(), 202);

    // ── The tokens are on chain; the indexer mirrors the claims and the balances as final,
    //    and the relayer marks the credits claimed.
    let pmc_token = PMC::new(*token.address(), &admin);
    wait_for("bob's tokens on chain", 60, || async {
        pmc_token.balanceOf(bob_key.address()).call().await.ok() == Some(pmc("5").0)
    })
    .await;
    assert_eq!(
        pmc_token
            .balanceOf(alice_key.address())
            .call()
            .await
            .expect("balance"),
        pmc("12.5").0
    );
    wait_for("every credit claimed", 60, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM credits.credits WHERE state <> 'claimed'",
        )
        .fetch_one(&pool)
        .await
        .ok()
            == Some(0)
    })
    .await;
    let chain_balances = [
        (&alice, alice_key.address(), pmc("12.5")),
        (&bob, bob_key.address(), pmc("5")),
    ];
    for (user, address, amount) in chain_balances {
        wait_for("the indexer's final balance", 60, || async {
            let w = get(&app, user, "/v1/me/wallet").await;
            w["wallets"][0]["onchain"]["finalized_balance"]["wei"].as_str()
                == Some(amount.to_string().as_str())
        })
        .await;
        // The wallet view agrees with the chain: claimed credits, nothing claimable, the
        // on-chain balance.
        let w = get(&app, user, "/v1/me/wallet").await;
        assert_eq!(wei(&w["credits"]["claimed"]), amount.0, "{w}");
        assert_eq!(wei(&w["credits"]["in_wave"]), U256::ZERO, "{w}");
        assert_eq!(wei(&w["credits"]["pending"]), U256::ZERO, "{w}");
        assert_eq!(wei(&w["pmc_claimable"]), U256::ZERO, "{w}");
        assert_eq!(w["wallets"][0]["address"], format!("{address:#x}"), "{w}");
        assert_eq!(wei(&w["wallets"][0]["onchain"]["balance"]), amount.0, "{w}");
        assert_eq!(
            wei(&w["wallets"][0]["onchain"]["balance"]),
            pmc_token.balanceOf(address).call().await.expect("balance"),
            "the mirror equals the chain"
        );
        let c = get(&app, user, "/v1/me/pmc/claim").await;
        assert_eq!(wei(&c["claims"][0]["claimed"]), amount.0);
        assert_eq!(wei(&c["claims"][0]["claimable"]), U256::ZERO);
    }
    let report = reconcile::reconcile(&relayer)
        .await
        .expect("reconcile runs");
    assert!(report.is_clean(), "{:#?}", report.problems);

    let _ = stop.send(());
    relayer_loop
        .await
        .expect("relayer task")
        .expect("relayer stopped cleanly");
    indexer.abort();
    miner.abort();
    let _ = std::fs::remove_dir_all(export_dir);
}
