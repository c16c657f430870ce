//! The stack every end-to-end test runs on, and small helpers shared by the test files.
//!
//! [`Stack::start`] gives a test a [`LocalChain`] (a real anvil, one block mined every 100 ms so
//! the finalized block moves, the finalized block two behind the head) with PMC, MoneyWave
//! (day 0 = the UTC day of the chain's clock at start) and DonationHub deployed, and, over the
//! test's fresh database, the API (`posmul_api::testing`), the indexer and the relayer loop, all
//! running in this process, each connected as its own database role (`posmul_api`,
//! `posmul_indexer`, `posmul_relayer`: README "Database roles"), as in production; the test's
//! own `pool` (the superuser's) only reads and sets up. [`Stack::stop`] stops them.
//!
//! The API reads the chain's clock ([`Clock::chain`], as in demo mode), so one time rules
//! everything: a test moves it with [`Stack::travel_to`] or [`Stack::end_day`] and games, hourly
//! pools, settlement days and waves all follow, with no time edited in the database.

use std::{future::Future, path::PathBuf, time::Duration};

use alloy::{
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::{Signer, local::PrivateKeySigner},
};
use chrono::{DateTime, SecondsFormat, Utc};
use posmul_api::testing::{TestApp, TestUser, spawn_app_with_clock};
use posmul_core::{
    Clock,
    bindings::{MoneyWave, PMC},
    db::ServiceRole,
    deployment::Deployment,
    merkle,
    money::Wei,
};
use posmul_economy::{
    credits::{self, CreditRequest, CreditSource},
    ledger::{Reference, ReferenceKind},
};
use posmul_indexer::{Finality, Indexer, IndexerConfig};
use posmul_relayer::{Relayer, config::Settings};
use posmul_testkit::{DAILY_CAP_PMC, LocalChain, Miner, roles::pool_as};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::{sync::oneshot, task::JoinHandle};
use uuid::Uuid;

pub const CHAIN_ID: u64 = 31337;

/// `n` PMC in wei.
pub fn pmc(n: &str) -> Wei {
    Wei::parse_pmc(n).expect("a PMC amount")
}

/// A PMC credit through the API's credit ledger (as a prediction win would issue it).
pub async fn earn(db: &PgPool, user: &TestUser, amount: Wei, day: chrono::NaiveDate) {
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
            wave_eligible_at: None,
        },
    )
    .await
    .expect("credit issued");
    tx.commit().await.expect("commit");
}

/// Polls `cond` every 100 ms for up to `secs` seconds.
pub async fn wait_for<F, Fut>(what: &str, secs: u64, mut cond: F)
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

/// `GET path` as `user`; asserts 200 and returns the JSON body.
pub async fn get(app: &TestApp, user: &TestUser, path: &str) -> Value {
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

/// The `wei` string of an amount object (`{"wei": "…", "pmc": "…"}`).
pub fn wei(v: &Value) -> U256 {
    v["wei"]
        .as_str()
        .expect("a wei string")
        .parse()
        .expect("U256")
}

/// Links `wallet` to `user` through the API (Sign-In with Ethereum message, U2).
pub async fn link_wallet(app: &TestApp, user: &TestUser, wallet: &PrivateKeySigner) {
    let n: Value = app
        .client
        .get(app.url("/v1/auth/siwe/nonce?purpose=link-wallet"))
        .send()
        .await
        .expect("nonce request")
        .json()
        .await
        .expect("nonce");
    let text = format!(
        "{} wants you to sign in with your Ethereum account:\n{}\n\n{}\n\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
        n["domain"].as_str().expect("domain"),
        wallet.address().to_checksum(None),
        n["statement"].as_str().expect("statement"),
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

/// Chain, contracts, API, indexer and relayer loop for one test (see the module docs).
pub struct Stack {
    /// anvil; `chain.keys()[0]` is the deployer, admin and relayer.
    pub chain: LocalChain,
    pub deployment: Deployment,
    pub app: TestApp,
    pub relayer: Relayer,
    /// The superuser's pool of the test's database: the test's own reads and set-up.
    pub pool: PgPool,
    /// The services' pools, each acting as the service's role.
    role_pools: Vec<PgPool>,
    export_dir: PathBuf,
    miner: Miner,
    indexer: JoinHandle<()>,
    stop: oneshot::Sender<()>,
    relayer_loop: JoinHandle<posmul_relayer::Result<()>>,
}

impl Stack {
    /// Starts anvil, deploys the contracts and runs the services over `pool`'s database, each
    /// as its role.
    pub async fn start(pool: PgPool) -> Stack {
        let api_pool = pool_as(&pool, ServiceRole::Api, 5).await;
        let indexer_pool = pool_as(&pool, ServiceRole::Indexer, 3).await;
        let relayer_pool = pool_as(&pool, ServiceRole::Relayer, 3).await;
        let chain = LocalChain::with_slots_in_an_epoch(1);
        let deployment = chain.deploy(DAILY_CAP_PMC).await;
        // Blocks keep coming (every 100 ms), so the finalized block moves.
        let miner = chain.start_miner(Duration::from_millis(100));

        // The API's "now" is the chain's latest block time, read again after 50 ms.
        let clock = Clock::chain(chain.admin().clone(), Duration::from_millis(50))
            .await
            .expect("the chain clock");
        let app = spawn_app_with_clock(api_pool.clone(), clock, |_| {}).await;
        let mut config = IndexerConfig::local(CHAIN_ID, vec![chain.url()]);
        config.http_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.poll_interval = Duration::from_millis(50);
        config.finality = Finality::Tag;
        config.retry_base = Duration::from_millis(20);
        config.retry_max = Duration::from_millis(300);
        config.standby_poll = Duration::from_millis(100);
        let indexer = Indexer::build(config, &deployment, indexer_pool.clone())
            .await
            .expect("indexer builds");
        let indexer = tokio::spawn(async move {
            let _ = indexer.run().await;
        });
        let export_dir = std::env::temp_dir().join(format!("posmul-e2e-{}", Uuid::new_v4()));
        let relayer = Relayer::new(
            relayer_pool.clone(),
            ProviderBuilder::new()
                .disable_recommended_fillers()
                .connect(&chain.url())
                .await
                .expect("provider")
                .erased(),
            chain.keys()[0].clone(),
            deployment.money_wave,
            deployment.deployment_block,
            Settings {
                poll_interval: Duration::from_millis(100),
                replace_after: Duration::from_secs(5),
                gas_margin_percent: 20,
                priority_fee_floor_wei: None,
                finality_confirmations: 2,
                claim_batch_max: 10,
                export_dir: export_dir.clone(),
                ..Settings::default()
            },
        )
        .await
        .expect("relayer");
        let (stop, stopped) = oneshot::channel::<()>();
        let relayer_loop = {
            let r = relayer.clone();
            tokio::spawn(async move {
                r.run(async {
                    let _ = stopped.await;
                })
                .await
            })
        };
        Stack {
            chain,
            deployment,
            app,
            relayer,
            pool,
            role_pools: vec![api_pool, indexer_pool, relayer_pool],
            export_dir,
            miner,
            indexer,
            stop,
            relayer_loop,
        }
    }

    /// The PMC token, read through the admin provider.
    pub fn token(&self) -> PMC::PMCInstance<DynProvider> {
        PMC::new(self.deployment.pmc, self.chain.admin().clone())
    }

    /// MoneyWave, sending as the admin.
    pub fn money_wave(&self) -> MoneyWave::MoneyWaveInstance<DynProvider> {
        MoneyWave::new(self.deployment.money_wave, self.chain.admin().clone())
    }

    /// Moves the chain's clock to the end of MoneyWave day `day` (the next block is the first
    /// of day `day + 1`), so that the relayer may publish wave `day`.
    pub async fn end_day(&self, day: u64) {
        self.chain.end_day(&self.deployment, day).await;
    }

    /// Moves the chain's clock to `t` (when it is not past it yet) and waits until the API's
    /// clock (`GET /v1/clock`) reads it.
    pub async fn travel_to(&self, t: DateTime<Utc>) {
        let target = u64::try_from(t.timestamp()).expect("a time after 1970");
        if self.chain.timestamp().await < target {
            self.chain.set_next_block_timestamp(target).await;
            self.chain.mine(1).await;
        }
        wait_for(&format!("the API's clock at {t}"), 10, || async {
            let clock: Value = self
                .app
                .client
                .get(self.app.url("/v1/clock"))
                .send()
                .await
                .expect("clock request")
                .json()
                .await
                .expect("clock");
            clock["now"]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
                .is_some_and(|now| now >= t)
        })
        .await;
    }

    /// Waits until the relayer has wave `day` final on chain.
    pub async fn wait_wave_finalized(&self, day: u64) {
        wait_for(&format!("wave {day} final"), 60, || async {
            sqlx::query_scalar!(
                "SELECT status FROM relayer.waves WHERE day = $1",
                i64::try_from(day).expect("day"),
            )
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
            .as_deref()
                == Some("finalized")
        })
        .await;
    }

    /// Waits until the indexer's final balance of `user`'s first wallet is `amount`.
    pub async fn wait_mirrored_balance(&self, user: &TestUser, amount: Wei) {
        wait_for("the indexer's final balance", 60, || async {
            let w = get(&self.app, user, "/v1/me/wallet").await;
            w["wallets"][0]["onchain"]["finalized_balance"]["wei"].as_str()
                == Some(amount.to_string().as_str())
        })
        .await;
    }

    /// The on-chain PMC balance of `address`.
    pub async fn balance_of(&self, address: Address) -> U256 {
        self.token()
            .balanceOf(address)
            .call()
            .await
            .expect("balance")
    }

    /// `user`'s wallet `key` claims on chain with the proof `GET /v1/me/pmc/claim` serves (M5),
    /// after checking that the API serves MoneyWave's current root and that the proof for
    /// `expected` verifies. Returns the API's answer for further checks.
    pub async fn claim_with_api_proof(
        &self,
        user: &TestUser,
        key: &PrivateKeySigner,
        expected: U256,
    ) -> Value {
        let wave = self.money_wave();
        let root = wave.currentRoot().call().await.expect("root");
        let claim = get(&self.app, user, "/v1/me/pmc/claim").await;
        let served_root: B256 = claim["root"].as_str().expect("root").parse().expect("word");
        assert_eq!(served_root, root, "the API serves the root MoneyWave holds");
        let c = &claim["claims"][0];
        let account: Address = c["account"]
            .as_str()
            .expect("account")
            .parse()
            .expect("address");
        assert_eq!(account, key.address());
        let cumulative = wei(&c["cumulative_amount"]);
        assert_eq!(cumulative, expected);
        let proof: Vec<B256> = c["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|h| h.as_str().expect("hex").parse().expect("word"))
            .collect();
        assert!(merkle::verify(root, account, cumulative, &proof));
        let receipt = MoneyWave::new(*wave.address(), &self.chain.wallet(key))
            .claim(account, cumulative, proof)
            .send()
            .await
            .expect("claim sent")
            .get_receipt()
            .await
            .expect("claim mined");
        assert!(receipt.status(), "the claim succeeds on chain");
        claim
    }

    /// Stops the relayer loop (cleanly), the indexer and the miner.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.relayer_loop
            .await
            .expect("relayer task")
            .expect("relayer stopped cleanly");
        self.indexer.abort();
        let _ = self.indexer.await;
        drop(self.miner);
        drop(self.app);
        for p in self.role_pools {
            p.close().await;
        }
        let _ = std::fs::remove_dir_all(self.export_dir);
    }
}
