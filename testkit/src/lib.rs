//! # posmul-testkit
//!
//! What the integration and end-to-end tests of PosMul share about the chain: a [`LocalChain`]
//! (a real anvil, `node_modules/.bin/anvil`) on which [`LocalChain::deploy`] deploys PMC,
//! MoneyWave and DonationHub from the bytecode in `contracts/abi` the way `script/Deploy.s.sol`
//! does, the clock and block helpers the tests drive it with, and a temporary
//! `deployments/<chainId>.json` for services started as child processes ([`DeploymentsDir`]).
//! [`tls`] has what the TLS tests share: a CA and a server certificate made in the test, a
//! TLS-terminating proxy (put in front of anvil: `https://` and `wss://`), a PostgreSQL cluster
//! and a Redis that accept TLS only. [`rate_limit`] has a node that answers `429 Too Many
//! Requests` before it passes requests on to anvil. [`roles::pool_as`] connects as a service's
//! database role.
//!
//! Only `[dev-dependencies]` use this crate; no production binary links it. Every helper panics
//! with what failed: a broken fixture is the test's failure, and a `Result` would only move the
//! `expect` into every test.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::U256,
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};
use posmul_core::{
    bindings::{DonationHub, MoneyWave, PMC},
    deployment::Deployment,
    money::{WEI_PER_PMC, Wei},
};
use tokio::task::JoinHandle;

pub mod rate_limit;
pub mod roles;
pub mod tls;

/// MoneyWave's day in seconds: day `d` starts at `genesis + d × DAY`.
pub const DAY: u64 = 86_400;

/// PMC's hard cap in whole PMC, `script/Deploy.s.sol`'s default.
pub const MAX_SUPPLY_PMC: u64 = 21_000_000_000;

/// MoneyWave's daily cap in whole PMC, `script/Deploy.s.sol`'s default.
pub const DAILY_CAP_PMC: u64 = 1_000_000;

/// The anvil binary: the workspace's `node_modules/.bin/anvil` (what `npm ci` installs, the
/// version `script/dev` runs), else `anvil` from `PATH`.
fn anvil() -> Anvil {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    if local.exists() {
        Anvil::at(local)
    } else {
        Anvil::new()
    }
}

/// A running anvil, stopped when dropped, with its funded accounts.
///
/// `keys()[0]` is the deployer: the admin, relayer and guardian of the contracts
/// [`LocalChain::deploy`] deploys, and the signer of [`LocalChain::admin`].
pub struct LocalChain {
    anvil: AnvilInstance,
    keys: Vec<PrivateKeySigner>,
    admin: DynProvider,
}

impl LocalChain {
    /// anvil with its default finality (the finalized block 64 behind the head).
    pub fn start() -> LocalChain {
        LocalChain::spawn(anvil())
    }

    /// anvil whose finalized block is `2 × slots` behind the head (`--slots-in-an-epoch`).
    pub fn with_slots_in_an_epoch(slots: u64) -> LocalChain {
        LocalChain::spawn(anvil().arg("--slots-in-an-epoch").arg(slots.to_string()))
    }

    fn spawn(builder: Anvil) -> LocalChain {
        let anvil = builder.try_spawn().expect("anvil starts");
        let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
        let admin = provider(anvil.endpoint_url(), &keys[..1]);
        LocalChain { anvil, keys, admin }
    }

    /// The HTTP JSON-RPC URL.
    pub fn url(&self) -> String {
        self.anvil.endpoint()
    }

    /// The port anvil listens on (127.0.0.1), for a proxy in front of it.
    pub fn port(&self) -> u16 {
        self.anvil.port()
    }

    /// The WebSocket JSON-RPC URL.
    pub fn ws_url(&self) -> String {
        self.anvil.ws_endpoint()
    }

    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// anvil's funded accounts (ten).
    pub fn keys(&self) -> &[PrivateKeySigner] {
        &self.keys
    }

    /// A provider signing with `keys()[0]`.
    pub fn admin(&self) -> &DynProvider {
        &self.admin
    }

    /// A provider signing with `key`.
    pub fn wallet(&self, key: &PrivateKeySigner) -> DynProvider {
        provider(self.anvil.endpoint_url(), std::slice::from_ref(key))
    }

    /// A provider that signs with any of `keys` (the first by default; pick one with `.from()`).
    pub fn wallets(&self, keys: &[PrivateKeySigner]) -> DynProvider {
        provider(self.anvil.endpoint_url(), keys)
    }

    /// The head block number.
    pub async fn head(&self) -> u64 {
        self.admin.get_block_number().await.expect("head")
    }

    /// The head block's timestamp (Unix seconds): the chain's clock.
    pub async fn timestamp(&self) -> u64 {
        self.admin
            .get_block_by_number(Default::default())
            .await
            .expect("latest block")
            .expect("a latest block")
            .header
            .timestamp
    }

    /// Mines `blocks` blocks at once.
    pub async fn mine(&self, blocks: u64) {
        self.admin
            .anvil_mine(Some(blocks), None)
            .await
            .expect("anvil_mine");
    }

    /// Mines a block every `every`, so the finalized block keeps moving, until the returned
    /// [`Miner`] drops.
    pub fn start_miner(&self, every: Duration) -> Miner {
        let p = self.admin.clone();
        Miner(tokio::spawn(async move {
            loop {
                // A failed mine (anvil busy or stopping) is retried at the next tick.
                let _ = p.anvil_mine(Some(1), None).await;
                tokio::time::sleep(every).await;
            }
        }))
    }

    /// Gives the next block the timestamp `unix_seconds`.
    pub async fn set_next_block_timestamp(&self, unix_seconds: u64) {
        self.admin
            .anvil_set_next_block_timestamp(unix_seconds)
            .await
            .expect("anvil_setNextBlockTimestamp");
    }

    /// Moves the chain's clock to the end of MoneyWave day `day` of `deployment`: mines a block
    /// at the first second of day `day + 1`, so a wave of `day` may be published. Does nothing
    /// when the chain's clock is already past it.
    pub async fn end_day(&self, deployment: &Deployment, day: u64) {
        let end = deployment.genesis + (day + 1) * DAY;
        if self.timestamp().await < end {
            self.set_next_block_timestamp(end).await;
            self.mine(1).await;
        }
    }

    /// Snapshots the chain's state; [`LocalChain::revert`] returns to it.
    pub async fn snapshot(&self) -> U256 {
        self.admin.anvil_snapshot().await.expect("anvil_snapshot")
    }

    /// Reverts the chain to `snapshot`, dropping the blocks after it (then mining another
    /// branch makes a reorg). Returns whether anvil reverted.
    pub async fn revert(&self, snapshot: U256) -> bool {
        self.admin
            .anvil_revert(snapshot)
            .await
            .expect("anvil_revert")
    }

    /// Deploys PMC, MoneyWave and DonationHub as `script/Deploy.s.sol` does with its defaults
    /// and a daily cap of `daily_cap_pmc` whole PMC: PMC names MoneyWave (the deployer's next
    /// address) as its only minter, MoneyWave's day 0 is the UTC day of the chain's clock, and
    /// the deployer (`keys()[0]`) is the admin of both and MoneyWave's relayer and guardian.
    pub async fn deploy(&self, daily_cap_pmc: u64) -> Deployment {
        self.deploy_with_max_supply(daily_cap_pmc, MAX_SUPPLY_PMC)
            .await
    }

    /// [`LocalChain::deploy`] with PMC's `MAX_SUPPLY` set to `max_supply_pmc` whole PMC, for
    /// tests that run the token to its hard cap.
    pub async fn deploy_with_max_supply(
        &self,
        daily_cap_pmc: u64,
        max_supply_pmc: u64,
    ) -> Deployment {
        let p = &self.admin;
        let me = self.keys[0].address();
        let deployment_block = self.head().await + 1;
        let now = self.timestamp().await;
        let genesis = now - now % DAY;
        let nonce = p.get_transaction_count(me).await.expect("nonce");
        let predicted_wave = me.create(nonce + 1);
        let pmc = PMC::deploy(p, pmc_wei(max_supply_pmc), predicted_wave)
            .await
            .expect("PMC deploys");
        let wave = MoneyWave::deploy(
            p,
            *pmc.address(),
            U256::from(genesis),
            pmc_wei(daily_cap_pmc),
            me,
        )
        .await
        .expect("MoneyWave deploys");
        assert_eq!(
            *wave.address(),
            predicted_wave,
            "MoneyWave at the address PMC names as its minter"
        );
        let hub = DonationHub::deploy(p, *pmc.address(), me)
            .await
            .expect("DonationHub deploys");
        for role in [
            wave.RELAYER_ROLE().call().await.expect("RELAYER_ROLE"),
            wave.GUARDIAN_ROLE().call().await.expect("GUARDIAN_ROLE"),
        ] {
            wave.grantRole(role, me)
                .send()
                .await
                .expect("grantRole sent")
                .get_receipt()
                .await
                .expect("grantRole mined");
        }
        Deployment {
            chain_id: self.chain_id(),
            pmc: *pmc.address(),
            money_wave: *wave.address(),
            donation_hub: *hub.address(),
            deployment_block,
            genesis,
            max_supply: Some(Wei::from_pmc(max_supply_pmc)),
            daily_cap: Some(Wei::from_pmc(daily_cap_pmc)),
        }
    }
}

/// `n` whole PMC in wei, as the contracts take amounts.
fn pmc_wei(n: u64) -> U256 {
    U256::from(n) * WEI_PER_PMC
}

/// A provider signing with `keys`: it estimates gas and asks the node for the pending nonce
/// before every transaction, so it stays right when another client sends from the same account
/// (a relayer under test) or a revert rewinds the chain.
fn provider(url: Url, keys: &[PrivateKeySigner]) -> DynProvider {
    let mut wallet = EthereumWallet::from(keys[0].clone());
    for k in &keys[1..] {
        wallet.register_signer(k.clone());
    }
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(wallet)
        .connect_http(url)
        .erased()
}

/// The task of [`LocalChain::start_miner`]; stops mining when dropped.
pub struct Miner(JoinHandle<()>);

impl Drop for Miner {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A temporary `DEPLOYMENTS_DIR` holding `<chainId>.json` in the shape `script/Deploy.s.sol`
/// writes, for services started as child processes; removed when dropped.
pub struct DeploymentsDir {
    path: PathBuf,
}

impl DeploymentsDir {
    pub fn write(deployment: &Deployment) -> DeploymentsDir {
        let path =
            std::env::temp_dir().join(format!("posmul-deployments-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("create the deployments dir");
        let json = serde_json::json!({
            "chainId": deployment.chain_id,
            "pmc": deployment.pmc,
            "moneyWave": deployment.money_wave,
            "donationHub": deployment.donation_hub,
            "deploymentBlock": deployment.deployment_block,
            "genesis": deployment.genesis,
            "maxSupply": deployment.max_supply,
            "dailyCap": deployment.daily_cap,
        });
        std::fs::write(
            path.join(format!("{}.json", deployment.chain_id)),
            json.to_string(),
        )
        .expect("write the deployment file");
        DeploymentsDir { path }
    }

    /// The directory, for `DEPLOYMENTS_DIR`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DeploymentsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deploy_wires_the_contracts_as_the_deploy_script_does() {
        let chain = LocalChain::start();
        let d = chain.deploy(DAILY_CAP_PMC).await;
        let me = chain.keys()[0].address();
        let pmc = PMC::new(d.pmc, chain.admin());
        let wave = MoneyWave::new(d.money_wave, chain.admin());
        let hub = DonationHub::new(d.donation_hub, chain.admin());
        assert_eq!(pmc.minter().call().await.expect("minter"), d.money_wave);
        assert_eq!(
            pmc.MAX_SUPPLY().call().await.expect("cap"),
            pmc_wei(MAX_SUPPLY_PMC)
        );
        assert_eq!(wave.token().call().await.expect("token"), d.pmc);
        assert_eq!(hub.token().call().await.expect("token"), d.pmc);
        assert_eq!(
            wave.dailyCap().call().await.expect("cap"),
            pmc_wei(DAILY_CAP_PMC)
        );
        assert_eq!(
            wave.genesis().call().await.expect("genesis"),
            U256::from(d.genesis)
        );
        assert_eq!(d.genesis % DAY, 0, "genesis is a UTC midnight");
        assert!(d.genesis <= chain.timestamp().await && chain.timestamp().await < d.genesis + DAY);
        for role in [
            wave.DEFAULT_ADMIN_ROLE().call().await.expect("role"),
            wave.RELAYER_ROLE().call().await.expect("role"),
            wave.GUARDIAN_ROLE().call().await.expect("role"),
        ] {
            assert!(wave.hasRole(role, me).call().await.expect("hasRole"));
        }
        let admin = hub.DEFAULT_ADMIN_ROLE().call().await.expect("role");
        assert!(hub.hasRole(admin, me).call().await.expect("hasRole"));
        let before = chain
            .admin()
            .get_code_at(d.pmc)
            .block_id((d.deployment_block - 1).into())
            .await
            .expect("code");
        assert!(
            before.is_empty(),
            "nothing deployed before deployment_block"
        );
        assert_eq!(d.chain_id, 31337);
    }

    #[tokio::test]
    async fn end_day_starts_the_next_moneywave_day_once() {
        let chain = LocalChain::start();
        let d = chain.deploy(DAILY_CAP_PMC).await;
        let wave = MoneyWave::new(d.money_wave, chain.admin());
        chain.end_day(&d, 1).await;
        let now = chain.timestamp().await;
        assert_eq!(now, d.genesis + 2 * DAY);
        assert_eq!(wave.dayOf(U256::from(now)).call().await.expect("dayOf"), 2);
        let head = chain.head().await;
        chain.end_day(&d, 0).await;
        assert_eq!(
            (chain.head().await, chain.timestamp().await),
            (head, now),
            "a day already over moves nothing"
        );
    }

    #[tokio::test]
    async fn revert_drops_the_blocks_mined_after_the_snapshot() {
        let chain = LocalChain::start();
        let head = chain.head().await;
        let snapshot = chain.snapshot().await;
        chain.mine(5).await;
        assert_eq!(chain.head().await, head + 5);
        assert!(chain.revert(snapshot).await);
        assert_eq!(chain.head().await, head);
    }

    #[tokio::test]
    async fn the_miner_mines_until_dropped() {
        let chain = LocalChain::start();
        let head = chain.head().await;
        let miner = chain.start_miner(Duration::from_millis(10));
        while chain.head().await < head + 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(miner);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stopped = chain.head().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(chain.head().await, stopped);
    }

    #[test]
    fn the_deployments_dir_holds_a_file_services_load() {
        let d = Deployment {
            chain_id: 31337,
            pmc: alloy::primitives::Address::repeat_byte(1),
            money_wave: alloy::primitives::Address::repeat_byte(2),
            donation_hub: alloy::primitives::Address::repeat_byte(3),
            deployment_block: 7,
            genesis: 20 * DAY,
            max_supply: Some(Wei::from_pmc(MAX_SUPPLY_PMC)),
            daily_cap: None,
        };
        let dir = DeploymentsDir::write(&d);
        let path = dir.path().to_owned();
        assert_eq!(Deployment::load(&path, 31337).expect("loads"), d);
        drop(dir);
        assert!(!path.exists(), "removed when dropped");
    }
}
