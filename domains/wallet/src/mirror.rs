//! Reads of the indexer's chain mirror that both wallet views share: the chain the API serves,
//! and an address's PMC balance on it (at the indexed block and at the finalized one).

use posmul_core::money::Wei;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Row};
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

/// The PMC balance of `address` on `chain_id`; `None` until the indexer mirrors that chain.
pub async fn chain_balance(
    conn: &mut PgConnection,
    chain_id: i64,
    address: &[u8],
) -> ApiResult<Option<ChainBalance>> {
    let row = sqlx::query(
        "SELECT c.indexed_block, c.finalized_block,
                COALESCE((SELECT balance FROM chain.pmc_balances WHERE chain_id = $1 AND address = $2), 0) AS balance,
                chain.pmc_balance_at($1, $2, c.finalized_block) AS finalized_balance
         FROM chain.cursors c WHERE c.chain_id = $1",
    )
    .bind(chain_id)
    .bind(address)
    .fetch_optional(conn)
    .await?;
    row.map(|r| -> ApiResult<ChainBalance> {
        Ok(ChainBalance {
            chain_id,
            balance: r.try_get::<Wei, _>("balance")?.into(),
            valid_at_block: r.try_get("indexed_block")?,
            finalized_balance: r.try_get::<Wei, _>("finalized_balance")?.into(),
            finalized_block: r.try_get("finalized_block")?,
        })
    })
    .transpose()
}
