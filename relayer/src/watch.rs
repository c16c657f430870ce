//! The root watcher (`posmul-relayer watch`, DESIGN.md M6): a stolen relayer key cannot cash a
//! root.
//!
//! While a root is pending on MoneyWave (`pendingRoot()`), the watcher recomputes it twice, from
//! the wave's published allocation file (`WAVE_EXPORT_DIR/<chainId>/wave-<day>.json`, the
//! `@openzeppelin/merkle-tree` dump also served by `GET /v1/waves/{day}/allocation`) and from
//! the database (`relayer.waves` and the leaves of `relayer.wave_leaves`), and compares both with
//! what the chain holds: the pending root and the `WavePublished` of the transaction that
//! published it (amount, allocation hash, total). Anything that differs — a root the database
//! never built, a missing or altered file, another amount — is a *mismatch*:
//!
//! - an `error` log line with the stable field `alert = "posmul_wave_root_mismatch"` and each
//!   reason;
//! - the gauge `posmul_relayer_watch_mismatch` at 1 (0 after a check that matched, or with nothing
//!   pending), on which an alert rule pages (see [`crate::metrics`]);
//! - with the guardian key configured (`GUARDIAN_PRIVATE_KEY`, or `GUARDIAN_KEYSTORE_PATH` +
//!   `GUARDIAN_KEYSTORE_PASSWORD_FILE`), `revokePendingRoot()` before the root's delay ends
//!   (counter `posmul_relayer_watch_revocations_total`); the relayer then builds the days again.
//!
//! The watcher needs no relayer key: it reads the chain, the database and the files, and signs
//! only as the guardian. Run it apart from the relayer, so that the machine holding the relayer
//! key is not the one deciding whether its roots are honest.

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use posmul_core::merkle::{Dump, StandardMerkleTree};
use sqlx::PgPool;

use crate::{
    Error, Result,
    contracts::MoneyWave,
    wave::{self, Leaf},
};

/// The `alert` field of the mismatch log line; alert rules and log searches key on it.
pub const MISMATCH_ALERT: &str = "posmul_wave_root_mismatch";

/// What the watcher needs: no relayer key.
pub struct Watcher {
    pub pool: PgPool,
    pub provider: DynProvider,
    pub chain_id: u64,
    pub money_wave: Address,
    pub deployment_block: u64,
    pub export_dir: PathBuf,
    /// Revokes a mismatching root when set.
    pub guardian: Option<PrivateKeySigner>,
}

/// One look at the pending root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub day: u64,
    pub first_day: u64,
    pub root: B256,
    pub claimable_at: u64,
    /// Empty when the chain, the file and the database agree.
    pub mismatches: Vec<String>,
    /// The guardian's `revokePendingRoot` transaction, when one was mined.
    pub revoked_by: Option<B256>,
}

impl Watcher {
    /// Checks the pending root, if any; on a mismatch alerts and, with the guardian key,
    /// revokes. `None` when no root is pending.
    #[tracing::instrument(skip_all, err)]
    pub async fn check(&self) -> Result<Option<Check>> {
        let mw = MoneyWave::new(self.money_wave, &self.provider);
        let pending = mw.pendingRoot().call().await?;
        if pending.root == B256::ZERO {
            metrics::gauge!("posmul_relayer_watch_mismatch").set(0.0);
            return Ok(None);
        }
        let claimable_at = u64::try_from(pending.claimableAt).unwrap_or(u64::MAX);
        let (day, published) = self.published(pending.root).await?;
        let mut check = Check {
            day,
            first_day: pending.firstDay,
            root: pending.root,
            claimable_at,
            mismatches: Vec::new(),
            revoked_by: None,
        };
        match published {
            Some(p) => {
                self.compare_database(&p, &mut check.mismatches).await?;
                self.compare_file(&p, &mut check.mismatches);
            }
            None => check
                .mismatches
                .push("no WavePublished on chain carries the pending root".to_owned()),
        }
        if check.mismatches.is_empty() {
            metrics::gauge!("posmul_relayer_watch_mismatch").set(0.0);
            tracing::debug!(day, root = %check.root, "the pending root matches the allocation file and the database");
            return Ok(Some(check));
        }
        metrics::gauge!("posmul_relayer_watch_mismatch").set(1.0);
        tracing::error!(
            alert = MISMATCH_ALERT,
            day,
            first_day = check.first_day,
            root = %check.root,
            claimable_at,
            reasons = ?check.mismatches,
            guardian = self.guardian.is_some(),
            "the pending root differs from the published allocation and the database"
        );
        if let Some(guardian) = &self.guardian {
            check.revoked_by = self.revoke(guardian, claimable_at).await?;
        }
        Ok(Some(check))
    }

    /// The day and `WavePublished` of the latest publication of `root` (from its `RootPending`).
    async fn published(&self, root: B256) -> Result<(u64, Option<MoneyWave::WavePublished>)> {
        let filter = Filter::new()
            .address(self.money_wave)
            .event_signature(MoneyWave::RootPending::SIGNATURE_HASH)
            .from_block(self.deployment_block);
        let logs = self.provider.get_logs(&filter).await?;
        let Some((log, e)) = logs.iter().rev().find_map(|l| {
            MoneyWave::RootPending::decode_log(&l.inner)
                .ok()
                .filter(|e| e.data.root == root)
                .map(|e| (l, e.data))
        }) else {
            return Err(Error::Corrupt(format!(
                "no RootPending names the pending root {root}"
            )));
        };
        let receipt = match log.transaction_hash {
            Some(tx) => self.provider.get_transaction_receipt(tx).await?,
            None => None,
        };
        let wave = receipt.and_then(|r| {
            r.inner
                .logs()
                .iter()
                .find_map(|l| MoneyWave::WavePublished::decode_log(&l.inner).ok())
                .map(|e| e.data)
                .filter(|w| w.day == e.day)
        });
        Ok((e.day, wave))
    }

    /// The stored wave of the day, and the tree rebuilt from its stored leaves.
    async fn compare_database(
        &self,
        p: &MoneyWave::WavePublished,
        out: &mut Vec<String>,
    ) -> Result<()> {
        let Some(w) = wave::load(&self.pool, p.day).await? else {
            out.push(format!("the database has no wave {}", p.day));
            return Ok(());
        };
        if w.root != p.root {
            out.push(format!("the database's wave {} has root {}", p.day, w.root));
        }
        if w.amount.as_u256() != p.amount {
            out.push(format!(
                "the database's wave {} mints {} but the chain minted {}",
                p.day, w.amount, p.amount
            ));
        }
        if w.total_cumulative.as_u256() != p.totalCumulative {
            out.push(format!(
                "the database's wave {} totals {} but the chain's total is {}",
                p.day, w.total_cumulative, p.totalCumulative
            ));
        }
        let tree = wave::load_tree(&self.pool, p.day).await?;
        compare_tree("the database's leaves", tree.as_ref(), p, out);
        Ok(())
    }

    /// The allocation file of the day, as published.
    fn compare_file(&self, p: &MoneyWave::WavePublished, out: &mut Vec<String>) {
        let path = wave::export_path(&self.export_dir, self.chain_id, p.day);
        let tree = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Dump>(&b).map_err(|e| e.to_string()))
            .and_then(|d| StandardMerkleTree::load(&d).map_err(|e| e.to_string()));
        match tree {
            Ok(t) => compare_tree("the allocation file", Some(&t), p, out),
            // No file: only an empty allocation (the zero root) has none.
            Err(_) if p.root == B256::ZERO => {}
            Err(e) => out.push(format!(
                "the allocation file {} is unusable: {e}",
                path.display()
            )),
        }
    }

    /// Sends `revokePendingRoot()` as the guardian while the root is still pending.
    async fn revoke(&self, guardian: &PrivateKeySigner, claimable_at: u64) -> Result<Option<B256>> {
        let signing = ProviderBuilder::new()
            .wallet(EthereumWallet::from(guardian.clone()))
            .connect_provider(self.provider.clone());
        let mw = MoneyWave::new(self.money_wave, &signing);
        let receipt = match mw.revokePendingRoot().send().await {
            Ok(pending) => pending
                .get_receipt()
                .await
                .map_err(|e| Error::Corrupt(format!("revokePendingRoot receipt: {e}")))?,
            Err(e) => {
                // Too late (the delay passed), already revoked, or no guardian role: the alert
                // stands and a person must act.
                tracing::error!(alert = MISMATCH_ALERT, error = %e, claimable_at,
                    "revokePendingRoot was refused: the root could not be revoked");
                return Ok(None);
            }
        };
        let tx = receipt.transaction_hash;
        if !alloy::network::ReceiptResponse::status(&receipt) {
            tracing::error!(alert = MISMATCH_ALERT, tx = %tx, "revokePendingRoot reverted");
            return Ok(None);
        }
        metrics::counter!("posmul_relayer_watch_revocations_total").increment(1);
        tracing::warn!(tx = %tx, guardian = %guardian.address(), "the mismatching root was revoked");
        Ok(Some(tx))
    }
}

/// Compares a tree's root and allocation hash with the chain's.
fn compare_tree(
    source: &str,
    tree: Option<&StandardMerkleTree>,
    p: &MoneyWave::WavePublished,
    out: &mut Vec<String>,
) {
    let (root, hash) = match tree {
        Some(t) => {
            let mut leaves: Vec<Leaf> = t
                .values()
                .iter()
                .map(|&(address, cumulative)| Leaf {
                    address,
                    cumulative,
                    increment: U256::ZERO,
                })
                .collect();
            leaves.sort_by_key(|l| l.address);
            let total: U256 = leaves.iter().map(|l| l.cumulative).sum();
            if total != p.totalCumulative {
                out.push(format!(
                    "{source} sums to {total} but the chain's total is {}",
                    p.totalCumulative
                ));
            }
            (t.root(), wave::allocation_hash(&leaves))
        }
        None => (B256::ZERO, wave::allocation_hash(&[])),
    };
    if root != p.root {
        out.push(format!(
            "{source} gives root {root}, the chain holds {}",
            p.root
        ));
    }
    if hash != p.allocationHash {
        out.push(format!(
            "{source} gives allocation hash {hash}, the chain holds {}",
            p.allocationHash
        ));
    }
}

impl Watcher {
    /// A watcher for `config` over `provider`, after the same chain checks as the relayer's
    /// ([`crate::app::open`]): the node's chain id equals `CHAIN_ID` when set and the deployment
    /// file's.
    pub async fn open(
        pool: PgPool,
        provider: DynProvider,
        config: &crate::config::WatchConfig,
    ) -> Result<Watcher> {
        let rpc = provider.get_chain_id().await?;
        if let Some(expected) = config.chain_id
            && expected != rpc
        {
            return Err(Error::WrongChain {
                rpc,
                expected,
                source_name: "CHAIN_ID".to_owned(),
            });
        }
        let path = config.deployments_dir.join(format!("{rpc}.json"));
        let deployment = posmul_core::deployment::Deployment::read(&path)?;
        if deployment.chain_id != rpc {
            return Err(Error::WrongChain {
                rpc,
                expected: deployment.chain_id,
                source_name: format!("the deployment file {}", path.display()),
            });
        }
        Ok(Watcher {
            pool,
            provider,
            chain_id: rpc,
            money_wave: deployment.money_wave,
            deployment_block: deployment.deployment_block,
            export_dir: config.export_dir.clone(),
            guardian: config.guardian.clone(),
        })
    }

    /// Checks every `poll` until `stop` resolves. A failed check (node or database unreachable)
    /// is logged and counted (`posmul_relayer_watch_errors_total`) and tried again: the watcher
    /// never stops on its own.
    pub async fn run(
        &self,
        poll: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.check().await {
                metrics::counter!("posmul_relayer_watch_errors_total").increment(1);
                tracing::warn!(error = %e, "the pending root could not be checked; trying again");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = &mut stop => return,
            }
        }
    }
}
