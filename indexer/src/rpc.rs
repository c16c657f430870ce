//! JSON-RPC access: several URLs with failover, retries with backoff, per-call timeouts.
//!
//! Every call goes to the active URL; a failure counts in `posmul_indexer_rpc_errors_total`, moves
//! to the next URL and retries after a backoff, up to two rounds over all URLs. A "range too
//! large" answer is not retried here: the caller splits the range. Providers come from
//! `posmul_core::rpc::connect` (no fillers: the indexer only reads), so `https://` and `wss://`
//! URLs trust the public roots and `TLS_CA_FILE`, and a node's rate limit (HTTP 429,
//! `Retry-After`) is waited out on the same URL before a failure counts here and fails over.
//! Errors and logs name a URL by its origin (`scheme://host:port`): a provider's URL often
//! carries an API key in its path or query.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{B256, BlockNumber},
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
    transports::{RpcError, TransportError, http::reqwest},
};
use posmul_core::tls::TlsSettings;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{
    backoff::Backoff,
    error::{IndexerError, Result},
    range::is_range_error,
    status::Status,
};

/// The part of a block header the indexer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockRef {
    #[serde(with = "alloy::serde::quantity")]
    pub number: BlockNumber,
    pub hash: B256,
    pub parent_hash: B256,
    #[serde(with = "alloy::serde::quantity")]
    pub timestamp: u64,
}

struct Endpoint {
    url: String,
    provider: Mutex<Option<DynProvider>>,
}

/// The RPC URLs, the active one, and the retry policy.
pub struct Rpc {
    endpoints: Vec<Endpoint>,
    active: AtomicUsize,
    timeout: Duration,
    backoff: Backoff,
    status: Arc<Status>,
    tls: TlsSettings,
}

impl Rpc {
    /// Checks the URLs; connections are opened on first use.
    pub fn new(
        urls: &[String],
        timeout: Duration,
        backoff: Backoff,
        status: Arc<Status>,
        tls: TlsSettings,
    ) -> Result<Rpc> {
        let mut endpoints = Vec::with_capacity(urls.len());
        for url in urls {
            let ok = url.starts_with("http://")
                || url.starts_with("https://")
                || url.starts_with("ws://")
                || url.starts_with("wss://");
            if !ok || url.parse::<reqwest::Url>().is_err() {
                return Err(IndexerError::BadUrl {
                    url: posmul_core::rpc::origin(url),
                    reason: "expected an http(s):// or ws(s):// URL".to_owned(),
                });
            }
            endpoints.push(Endpoint {
                url: url.clone(),
                provider: Mutex::new(None),
            });
        }
        if endpoints.is_empty() {
            return Err(IndexerError::BadUrl {
                url: String::new(),
                reason: "no RPC URL given".to_owned(),
            });
        }
        Ok(Rpc {
            endpoints,
            active: AtomicUsize::new(0),
            timeout,
            backoff,
            status,
            tls,
        })
    }

    /// The URL currently in use.
    pub fn active_url(&self) -> &str {
        &self.endpoints[self.active.load(Ordering::Relaxed) % self.endpoints.len()].url
    }

    /// Whether the active URL is a WebSocket (head subscriptions available).
    pub fn active_is_ws(&self) -> bool {
        self.active_url().starts_with("ws")
    }

    /// The provider of the active endpoint, connecting it if needed.
    pub async fn provider(&self) -> std::result::Result<(usize, DynProvider), TransportError> {
        let i = self.active.load(Ordering::Relaxed) % self.endpoints.len();
        let ep = &self.endpoints[i];
        let mut slot = ep.provider.lock().await;
        if let Some(p) = slot.as_ref() {
            return Ok((i, p.clone()));
        }
        let p = posmul_core::rpc::connect(&ep.url, &self.tls, Some(self.timeout)).await?;
        *slot = Some(p.clone());
        Ok((i, p))
    }

    async fn failed(&self, i: usize) {
        // A WebSocket may be dead: reconnect on next use.
        if self.endpoints[i].url.starts_with("ws") {
            *self.endpoints[i].provider.lock().await = None;
        }
        if self.endpoints.len() > 1
            && self
                .active
                .compare_exchange(
                    i,
                    (i + 1) % self.endpoints.len(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.status.metrics.failover();
        }
    }

    /// Runs `f` against the active provider with timeout, failover and backoff.
    #[tracing::instrument(level = "debug", skip_all, fields(method))]
    pub async fn call<T, F, Fut>(&self, method: &'static str, f: F) -> Result<T>
    where
        F: Fn(DynProvider) -> Fut,
        Fut: Future<Output = std::result::Result<T, TransportError>>,
    {
        let attempts = (2 * self.endpoints.len()).max(3) as u32;
        let mut attempt = 0u32;
        loop {
            let (i, outcome) = match self.provider().await {
                Ok((i, p)) => match tokio::time::timeout(self.timeout, f(p)).await {
                    Ok(r) => (i, r.map_err(Some)),
                    Err(_) => (i, Err(None)),
                },
                Err(e) => (
                    self.active.load(Ordering::Relaxed) % self.endpoints.len(),
                    Err(Some(e)),
                ),
            };
            // Errors name the origin only: a provider's URL may carry its API key.
            let url = posmul_core::rpc::origin(&self.endpoints[i].url);
            let err = match outcome {
                Ok(v) => {
                    self.status.set_rpc_ok(true);
                    return Ok(v);
                }
                Err(Some(e)) if range_refusal(&e) => {
                    return Err(IndexerError::RangeTooLarge(e.to_string()));
                }
                Err(Some(source)) => IndexerError::Rpc {
                    method,
                    url,
                    source,
                },
                Err(None) => IndexerError::Timeout { method, url },
            };
            self.status.metrics.rpc_error(method);
            tracing::warn!(error = %err, attempt, "RPC call failed");
            self.failed(i).await;
            attempt += 1;
            if attempt >= attempts {
                self.status.set_rpc_ok(false);
                return Err(err);
            }
            tokio::time::sleep(self.backoff.delay(attempt - 1)).await;
        }
    }

    /// `eth_blockNumber`.
    pub async fn head(&self) -> Result<u64> {
        self.call(
            "eth_blockNumber",
            |p| async move { p.get_block_number().await },
        )
        .await
    }

    /// A block's header essentials, `None` when the node has no such block.
    pub async fn block(&self, n: BlockNumberOrTag) -> Result<Option<BlockRef>> {
        self.call("eth_getBlockByNumber", move |p| async move {
            p.client()
                .request::<_, Option<BlockRef>>("eth_getBlockByNumber", (n, false))
                .await
        })
        .await
    }

    /// The node's `finalized` block: `Ok(None)` when the node does not know the tag (it
    /// answered with an error response or null), an error when it could not be asked.
    pub async fn finalized(&self) -> Result<Option<BlockRef>> {
        let n = BlockNumberOrTag::Finalized;
        let r = self
            .call("eth_getBlockByNumber", move |p| async move {
                match p
                    .client()
                    .request::<_, Option<BlockRef>>("eth_getBlockByNumber", (n, false))
                    .await
                {
                    Err(RpcError::ErrorResp(_)) => Ok(None),
                    other => other,
                }
            })
            .await?;
        Ok(r)
    }

    /// `eth_getLogs`; a refusal as too large is [`IndexerError::RangeTooLarge`].
    pub async fn logs(&self, filter: &Filter) -> Result<Vec<Log>> {
        self.call("eth_getLogs", |p| {
            let filter = filter.clone();
            async move { p.get_logs(&filter).await }
        })
        .await
    }
}

fn range_refusal(e: &TransportError) -> bool {
    match e {
        RpcError::ErrorResp(payload) => {
            is_range_error(&payload.message) || is_range_error(&payload.to_string())
        }
        other => is_range_error(&other.to_string()),
    }
}
