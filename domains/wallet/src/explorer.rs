//! The public explorer of an address's PMC (no sign-in), from the indexer's mirror.
//!
//! - `GET /v1/accounts/{address}/pmc` — an address's PMC balance on chain, its latest transfers
//!   and donations; `…/pmc/transfers` and `…/pmc/donations` page further.
//!
//! The address in the path may be in any case; every address in a reply is EIP-55 checksummed.
//! A citizen's own wallet, with what they earned and can claim, is [`crate::my_wallet`].

use axum::extract::{Path, Query, State};
use posmul_core::{WalletAddress, money::Wei};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    display::PmcAmount,
    error::{ApiJson, ApiResult, Problem, WalletError},
    mirror::{self, ChainBalance},
    pagination::{Page, PageParams},
    state::AppState,
};

/// The `/v1/accounts/{address}/pmc` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account_pmc))
        .routes(routes!(account_pmc_transfers))
        .routes(routes!(account_pmc_donations))
}

/// An address from `0x` + 40 hex digits, in any case (no checksum is required of a path).
fn parse_address(s: &str) -> Result<WalletAddress, WalletError> {
    s.parse().map_err(|_| WalletError::InvalidAddress)
}

/// 0x-prefixed lower-case hex, for transaction hashes.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A PMC transfer touching the address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PmcTransferView {
    pub tx_hash: String,
    pub block_number: i64,
    pub log_index: i32,
    /// Checksummed; `0x000…0` for a mint.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub from: WalletAddress,
    /// Checksummed; `0x000…0` for a burn.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub to: WalletAddress,
    pub value: PmcAmount,
    /// `in`, `out` or `self`, seen from the address.
    pub direction: String,
    /// Below the finalized block: cannot be reorganized away.
    pub finalized: bool,
}

/// A DonationHub donation the address made or received.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DonationView {
    pub tx_hash: String,
    pub block_number: i64,
    pub log_index: i32,
    /// The DonationHub recipient id (decimal).
    pub recipient_id: String,
    /// Checksummed.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub donor: WalletAddress,
    /// Checksummed.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub beneficiary: WalletAddress,
    pub amount: PmcAmount,
    /// `donor` or `beneficiary`: the address's side.
    pub role: String,
    pub finalized: bool,
}

/// `GET /v1/accounts/{address}/pmc`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountPmc {
    /// EIP-55 checksummed.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub address: WalletAddress,
    /// `null` until the indexer mirrors the chain `CHAIN_ID`.
    pub onchain: Option<ChainBalance>,
    /// The newest transfers; page on with `/v1/accounts/{address}/pmc/transfers`.
    pub transfers: Page<PmcTransferView>,
    /// The newest donations; page on with `/v1/accounts/{address}/pmc/donations`.
    pub donations: Page<DonationView>,
}

/// Cursor of the mirror's lists: (block number, log index) of the last item.
type ChainKey = (i64, i32);

/// An address's PMC on chain, for explorers (public).
#[utoipa::path(get, path = "/v1/accounts/{address}/pmc", tag = "explorer",
    params(("address" = String, Path, description = "0x-prefixed 20-byte hex address")),
    responses(
        (status = 200, description = "balance, newest transfers and donations", body = AccountPmc),
        (status = 422, description = "not an address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(address = %address))]
pub async fn account_pmc(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<ApiJson<AccountPmc>> {
    let address = parse_address(&address)?;
    let chain_id = mirror::chain_id(&state)?;
    let limit = i64::from(crate::pagination::DEFAULT_LIMIT);
    let mut conn = state.db.acquire().await?;
    let onchain = mirror::balance(&mut conn, chain_id, address)
        .await?
        .map(|b| ChainBalance::new(chain_id, &b));
    let transfers = transfers_page(&mut conn, chain_id, address, None, limit).await?;
    let donations = donations_page(&mut conn, chain_id, address, None, limit).await?;
    Ok(ApiJson(AccountPmc {
        address,
        onchain,
        transfers,
        donations,
    }))
}

/// An address's PMC transfers, newest first (public).
#[utoipa::path(get, path = "/v1/accounts/{address}/pmc/transfers", tag = "explorer",
    params(("address" = String, Path, description = "0x-prefixed 20-byte hex address"), PageParams),
    responses(
        (status = 200, description = "a page of transfers", body = Page<PmcTransferView>),
        (status = 422, description = "not an address, bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(address = %address))]
pub async fn account_pmc_transfers(
    State(state): State<AppState>,
    Path(address): Path<String>,
    Query(params): Query<PageParams>,
) -> ApiResult<ApiJson<Page<PmcTransferView>>> {
    let address = parse_address(&address)?;
    let mut conn = state.db.acquire().await?;
    let page = transfers_page(
        &mut conn,
        mirror::chain_id(&state)?,
        address,
        params.after()?,
        params.limit()?,
    )
    .await?;
    Ok(ApiJson(page))
}

/// Donations an address made or received, newest first (public).
#[utoipa::path(get, path = "/v1/accounts/{address}/pmc/donations", tag = "explorer",
    params(("address" = String, Path, description = "0x-prefixed 20-byte hex address"), PageParams),
    responses(
        (status = 200, description = "a page of donations", body = Page<DonationView>),
        (status = 422, description = "not an address, bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(address = %address))]
pub async fn account_pmc_donations(
    State(state): State<AppState>,
    Path(address): Path<String>,
    Query(params): Query<PageParams>,
) -> ApiResult<ApiJson<Page<DonationView>>> {
    let address = parse_address(&address)?;
    let mut conn = state.db.acquire().await?;
    let page = donations_page(
        &mut conn,
        mirror::chain_id(&state)?,
        address,
        params.after()?,
        params.limit()?,
    )
    .await?;
    Ok(ApiJson(page))
}

async fn transfers_page(
    conn: &mut PgConnection,
    chain_id: i64,
    address: WalletAddress,
    after: Option<ChainKey>,
    limit: i64,
) -> ApiResult<Page<PmcTransferView>> {
    let (block, log) = after.map_or((None, None), |(b, l)| (Some(b), Some(l)));
    // One index per side (pmc_transfers_from / _to); a self-transfer appears on both, once.
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (block_number, log_index)
                  tx_hash AS "tx_hash!", block_number AS "block_number!", log_index AS "log_index!",
                  from_address AS "from_address!: WalletAddress", to_address AS "to_address!: WalletAddress",
                  value AS "value!: Wei",
                  finalized AS "finalized!"
           FROM (
               (SELECT tx_hash, block_number, log_index, from_address, to_address, value, finalized
                FROM chain.pmc_transfers
                WHERE chain_id = $1 AND from_address = $2 AND ($3::BIGINT IS NULL OR (block_number, log_index) < ($3, $4))
                ORDER BY block_number DESC, log_index DESC LIMIT $5)
               UNION ALL
               (SELECT tx_hash, block_number, log_index, from_address, to_address, value, finalized
                FROM chain.pmc_transfers
                WHERE chain_id = $1 AND to_address = $2 AND ($3::BIGINT IS NULL OR (block_number, log_index) < ($3, $4))
                ORDER BY block_number DESC, log_index DESC LIMIT $5)) t
           ORDER BY block_number DESC, log_index DESC
           LIMIT $5"#,
        chain_id,
        address.as_slice(),
        block,
        log,
        limit + 1,
    )
    .fetch_all(conn)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let direction = match (r.from_address == address, r.to_address == address) {
                (true, true) => "self",
                (true, false) => "out",
                _ => "in",
            };
            PmcTransferView {
                tx_hash: hex(&r.tx_hash),
                block_number: r.block_number,
                log_index: r.log_index,
                from: r.from_address,
                to: r.to_address,
                value: r.value.into(),
                direction: direction.to_owned(),
                finalized: r.finalized,
            }
        })
        .collect();
    Ok(Page::from_rows(items, limit, |t| {
        (t.block_number, t.log_index)
    }))
}

async fn donations_page(
    conn: &mut PgConnection,
    chain_id: i64,
    address: WalletAddress,
    after: Option<ChainKey>,
    limit: i64,
) -> ApiResult<Page<DonationView>> {
    let (block, log) = after.map_or((None, None), |(b, l)| (Some(b), Some(l)));
    let rows = sqlx::query!(
        r#"SELECT tx_hash, block_number, log_index, recipient_id::TEXT AS "recipient_id!",
                  donor AS "donor: WalletAddress", beneficiary AS "beneficiary: WalletAddress",
                  amount AS "amount: Wei", finalized
           FROM chain.donations
           WHERE chain_id = $1 AND (donor = $2 OR beneficiary = $2)
             AND ($3::BIGINT IS NULL OR (block_number, log_index) < ($3, $4))
           ORDER BY block_number DESC, log_index DESC
           LIMIT $5"#,
        chain_id,
        address.as_slice(),
        block,
        log,
        limit + 1,
    )
    .fetch_all(conn)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| DonationView {
            tx_hash: hex(&r.tx_hash),
            block_number: r.block_number,
            log_index: r.log_index,
            recipient_id: r.recipient_id,
            role: if r.donor == address {
                "donor"
            } else {
                "beneficiary"
            }
            .to_owned(),
            donor: r.donor,
            beneficiary: r.beneficiary,
            amount: r.amount.into(),
            finalized: r.finalized,
        })
        .collect();
    Ok(Page::from_rows(items, limit, |d| {
        (d.block_number, d.log_index)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_any_case_and_print_checksummed() {
        for any_case in [
            "0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266",
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        ] {
            let a = parse_address(any_case).unwrap();
            assert_eq!(a.to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        }
        for bad in [
            "abcdef0123456789abcdef0123456789abcdef01",
            "0x123",
            "0xZZcdef0123456789abcdef0123456789abcdef01",
            "0xé1cdef0123456789abcdef0123456789abcdef0",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
