//! Reads of the indexer's chain mirror that both wallet views share: the chain the API serves,
//! and an address's PMC balance on it (at the indexed block and at the finalized one).

use posmul_core::{WalletAddress, money::Wei};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;

use crate::{
    display::PmcAmount,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// A PMC balance on chain, as mirrored by the indexer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChainBalance {
    pub chain_id: i64,
    /// The balance at `valid_at_block` (the indexer's latest indexed block).
    pub balance: PmcAmount,
    pub valid_at_block: i64,
    /// The balance at `finalized_block` (cannot be reorganized away).
    pub finalized_balance: PmcAmount,
    pub finalized_block: i64,
}

/// The configured chain (`CHAIN_ID`) as the mirror stores it.
pub fn chain_id(state: &AppState) -> ApiResult<i64> {
    i64::try_from(state.config.chain_id).map_err(ApiError::internal)
}

/// What the mirror shows of an address on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnChain {
    /// The indexer's latest indexed block, and the balance there.
    pub indexed_block: i64,
    pub balance: Wei,
    /// The finalized block, and the balance there (cannot be reorganized away).
    pub finalized_block: i64,
    pub finalized_balance: Wei,
}

impl ChainBalance {
    /// The response shape of `on_chain` on `chain_id`.
    pub fn new(chain_id: i64, on_chain: &OnChain) -> ChainBalance {
        ChainBalance {
            chain_id,
            balance: on_chain.balance.into(),
            valid_at_block: on_chain.indexed_block,
            finalized_balance: on_chain.finalized_balance.into(),
            finalized_block: on_chain.finalized_block,
        }
    }
}

/// The PMC balance of `address` on `chain_id`; `None` until the indexer mirrors that chain.
pub async fn balance(
    conn: &mut PgConnection,
    chain_id: i64,
    address: WalletAddress,
) -> ApiResult<Option<OnChain>> {
    Ok(sqlx::query_as!(
        OnChain,
        r#"SELECT c.indexed_block, c.finalized_block,
                  COALESCE((SELECT balance FROM chain.pmc_balances WHERE chain_id = $1 AND address = $2), 0)
                      AS "balance!: Wei",
                  chain.pmc_balance_at($1, $2, c.finalized_block) AS "finalized_balance!: Wei"
           FROM chain.cursors c WHERE c.chain_id = $1"#,
        chain_id,
        address.as_slice(),
    )
    .fetch_optional(conn)
    .await?)
}
