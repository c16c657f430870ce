//! The indexer's one error type.

use alloy::transports::TransportError;

/// What can go wrong while indexing. RPC failures and inconsistent node answers are retried
/// with backoff; database failures give up the advisory lock and re-elect.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// Every attempt of an RPC call failed (each URL was tried).
    #[error("RPC {method} failed on {url}: {source}; check RPC_URLS and the node")]
    Rpc {
        method: &'static str,
        url: String,
        #[source]
        source: TransportError,
    },
    /// An RPC call did not answer within RPC_TIMEOUT_MS.
    #[error("RPC {method} timed out on {url}; raise RPC_TIMEOUT_MS or check the node")]
    Timeout { method: &'static str, url: String },
    /// The provider refused a log query as too large (a range or size limit).
    #[error("the provider refused eth_getLogs as too large: {0}")]
    RangeTooLarge(String),
    /// Even a single block's logs are refused as too large.
    #[error(
        "the provider refuses the logs of block {block} as too large: {message}; use a provider without a result limit"
    )]
    BlockTooLarge { block: u64, message: String },
    /// The node's answers contradict each other (a reorg happened between two calls, or a log
    /// lacks its block); the step is retried.
    #[error("inconsistent node answer: {0}")]
    Inconsistent(String),
    /// A log of a mirrored contract with a known signature does not decode.
    #[error(
        "cannot decode {event} in tx {tx} log {log_index}: {reason}; is the deployment file for these contracts?"
    )]
    Decode {
        event: &'static str,
        tx: String,
        log_index: u64,
        reason: String,
    },
    /// The node does not answer the `finalized` tag and FINALITY=tag.
    #[error("the node does not answer the finalized block tag; set FINALITY=depth (or auto)")]
    NoFinalizedTag,
    /// A URL in RPC_URLS does not parse.
    #[error("RPC URL {url:?} is malformed: {reason}")]
    BadUrl { url: String, reason: String },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The HTTP endpoint could not be bound.
    #[error("cannot listen on {addr}: {source}; set INDEXER_HTTP_ADDR")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A fetch task panicked or was cancelled.
    #[error("a fetch task ended abnormally: {0}")]
    Task(String),
}

impl IndexerError {
    /// Database failures end the leadership (the lock connection may be gone).
    pub fn is_db(&self) -> bool {
        matches!(self, IndexerError::Db(_))
    }
}

/// The indexer's result.
pub type Result<T, E = IndexerError> = std::result::Result<T, E>;
