//! Assembly: build the parts from the configuration, then run the HTTP endpoint and the
//! election/indexing loop together.

use std::{net::SocketAddr, sync::Arc};

use alloy::providers::Provider;
use futures::StreamExt;
use posmul_core::{deployment::Deployment, service::OpsListener};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::{
    backoff::Backoff,
    config::IndexerConfig,
    error::{IndexerError, Result},
    events::Contracts,
    http::{self, HttpState},
    lock,
    rpc::Rpc,
    status::{Role, Status},
    sync::Syncer,
};

/// A built indexer: the HTTP port is bound, nothing runs until [`Indexer::run`].
pub struct Indexer {
    config: IndexerConfig,
    contracts: Contracts,
    deployment_block: u64,
    pool: PgPool,
    rpc: Arc<Rpc>,
    status: Arc<Status>,
    listener: OpsListener,
}

impl Indexer {
    /// Checks the RPC URLs and binds `config.http_addr` (port 0 picks a free port).
    pub async fn build(
        config: IndexerConfig,
        deployment: &Deployment,
        pool: PgPool,
    ) -> Result<Indexer> {
        let status = Status::new();
        let backoff = Backoff {
            base: config.retry_base,
            max: config.retry_max,
        };
        let rpc = Arc::new(Rpc::new(
            &config.rpc_urls,
            config.rpc_timeout,
            backoff,
            status.clone(),
            config.tls.clone(),
        )?);
        let listener = OpsListener::bind(config.http_addr)
            .await
            .map_err(|source| IndexerError::Bind {
                addr: config.http_addr,
                source,
            })?;
        let contracts = Contracts {
            pmc: deployment.pmc,
            money_wave: deployment.money_wave,
            donation_hub: deployment.donation_hub,
        };
        Ok(Indexer {
            contracts,
            deployment_block: deployment.deployment_block,
            pool,
            rpc,
            status,
            listener,
            config,
        })
    }

    /// The bound address of `/healthz`, `/readyz` and `/metrics`.
    pub fn http_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// The shared status (progress, role, metrics).
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// Serves HTTP and indexes for ever: waits for the chain's advisory lock, leads until a
    /// database error, then re-elects. Returns only if the HTTP server fails.
    pub async fn run(self) -> Result<()> {
        let Indexer {
            config,
            contracts,
            deployment_block,
            pool,
            rpc,
            status,
            listener,
        } = self;
        let addr = listener.local_addr();
        let state = HttpState {
            status: status.clone(),
            pool: pool.clone(),
            ready_max_lag: config.ready_max_lag,
        };
        let server = listener.serve(status.metrics.handle(), http::readiness(state));
        let wake = Arc::new(Notify::new());
        let heads = tokio::spawn(watch_heads(rpc.clone(), wake.clone()));
        let backoff = Backoff {
            base: config.retry_base,
            max: config.retry_max,
        };
        let work = async {
            let mut syncer = Syncer::new(
                &config,
                contracts,
                deployment_block,
                rpc,
                status.clone(),
                wake,
            );
            let election = lock::election(config.chain_id);
            let mut failures = 0u32;
            loop {
                status.set_role(Role::Standby);
                let mut leader = election
                    .wait_to_lead(&pool, config.standby_poll, |n| backoff.delay(n))
                    .await;
                status.set_role(Role::Leader);
                tracing::info!(chain_id = config.chain_id, "leading: indexing");
                if let Err(e) = syncer.lead(leader.conn()).await {
                    tracing::error!(error = %e, "leadership ended; re-electing");
                }
                status.set_role(Role::Standby);
                drop(leader);
                tokio::time::sleep(backoff.delay(failures)).await;
                failures = failures.saturating_add(1).min(10);
            }
        };
        let result = tokio::select! {
            r = server => r.map_err(|source| IndexerError::Bind { addr, source }),
            () = work => Ok(()),
        };
        heads.abort();
        result
    }
}

/// With a WebSocket URL, new heads wake the loop at once instead of at the next poll.
async fn watch_heads(rpc: Arc<Rpc>, wake: Arc<Notify>) {
    loop {
        if rpc.active_is_ws() {
            match rpc.provider().await {
                Ok((_, p)) => match p.subscribe_blocks().await {
                    Ok(sub) => {
                        tracing::info!("subscribed to new heads");
                        let mut stream = sub.into_stream();
                        while stream.next().await.is_some() {
                            wake.notify_one();
                        }
                        tracing::warn!("new-heads subscription ended; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to new heads; polling"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot connect the WebSocket; polling"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
