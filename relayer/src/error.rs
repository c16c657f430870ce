//! The relayer's error type.

use crate::failpoint::Step;

/// Everything that can stop a relayer step. Each step is idempotent: after any error the next
/// attempt starts again from the persisted state and the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Wave(#[from] posmul_economy::wave::WaveError),
    #[error(transparent)]
    Credit(#[from] posmul_economy::credits::CreditError),
    /// A stored byte column of the wrong length (`posmul_economy::codec`); the schema's checks
    /// should make this impossible.
    #[error("corrupt relayer data: {0}")]
    Codec(#[from] posmul_economy::codec::CodecError),
    #[error("RPC error: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    #[error("contract call failed: {0}")]
    Contract(#[from] alloy::contract::Error),
    #[error("cannot sign the transaction: {0}")]
    Sign(String),
    #[error("configuration error: {0}")]
    Config(#[from] posmul_core::config::ConfigError),
    #[error("deployment error: {0}")]
    Deployment(#[from] posmul_core::deployment::DeploymentError),
    #[error("Merkle tree error: {0}")]
    Merkle(#[from] posmul_core::merkle::MerkleError),
    #[error("cannot write the wave export {path}: {source}")]
    Export {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The chain holds a wave that differs from the stored one (or one the database lacks): a
    /// restored or foreign database. The relayer stops rather than publish anything else.
    #[error(
        "chain and database disagree on day {day}: {detail}; restore the relayer schema or investigate before restarting"
    )]
    Divergence { day: u64, detail: String },
    /// A stored value is malformed (e.g. a bad address length); the schema's checks should make
    /// this impossible.
    #[error("corrupt relayer data: {0}")]
    Corrupt(String),
    /// A test armed this failpoint: the process "crashes" here.
    #[error("failpoint {0:?} triggered")]
    Failpoint(Step),
    /// The publishing transaction reverted on chain.
    #[error("transaction {tx} for day {day} reverted")]
    Reverted {
        day: u64,
        tx: alloy::primitives::TxHash,
    },
    /// The fee ceiling (`MAX_FEE_PER_GAS_GWEI`, `MAX_PRIORITY_FEE_PER_GAS_GWEI`) held a
    /// transaction or a replacement back: the wave waits for lower fees.
    #[error("the fee ceiling holds the {what} back: {detail}")]
    FeeCeiling { what: &'static str, detail: String },
    /// The node is on another chain than `CHAIN_ID` or the deployment file names: nothing is
    /// signed.
    #[error(
        "the node at RPC_URL is on chain {rpc}, but {source_name} says {expected}; point RPC_URL at chain {expected} or fix {source_name}"
    )]
    WrongChain {
        rpc: u64,
        expected: u64,
        source_name: String,
    },
    /// Another instance holds the advisory lock.
    #[error("another relayer instance holds the lock")]
    Locked,
}

/// The relayer's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
