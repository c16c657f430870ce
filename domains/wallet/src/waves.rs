//! The public allocation of every published wave (docs/DESIGN.md M3, M6).
//!
//! - `GET /v1/waves/{day}/allocation` — wave `day`'s allocation file, the
//!   `@openzeppelin/merkle-tree` dump the relayer exports (`StandardMerkleTree.load(json)` reads
//!   it): every address with its cumulative amount, in address order, and the tree. Anyone can
//!   recompute the root and the `allocationHash` published on chain from it, while the root is
//!   still in its delay as after (the watcher of M6 does). Public, no sign-in; a published
//!   wave's allocation never changes, so the answer is cacheable (`Cache-Control: public`,
//!   immutable). A day not on chain, revoked, or allocating nothing yet is a 404
//!   `wave-not-published`.

use axum::{
    extract::{Path, State},
    http::header,
    response::IntoResponse,
};
use posmul_core::merkle::Dump;
use posmul_economy::wave;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem, WalletError},
    state::AppState,
};

/// A published wave's allocation never changes: a day of caching, never revalidated.
const CACHE: &str = "public, max-age=86400, immutable";

/// The wave routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(wave_allocation))
}

/// A wave's allocation file (public).
#[utoipa::path(get, path = "/v1/waves/{day}/allocation", tag = "pmc",
    params(("day" = u64, Path, description = "the MoneyWave day (0 = the genesis day)")),
    responses(
        (status = 200, description = "the @openzeppelin/merkle-tree dump (format standard-v1, leaf encoding [address, uint256])", body = serde_json::Value),
        (status = 404, description = "`wave-not-published`: the day has no allocation on chain", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not a day number", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(day = %day))]
pub async fn wave_allocation(
    State(state): State<AppState>,
    Path(day): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let day: u64 = day.parse().map_err(|_| WalletError::InvalidDay)?;
    let Some(allocation) = wave::allocation(&state.db, state.config.chain_id, day).await? else {
        return Err(WalletError::WaveNotPublished.into());
    };
    // Hashing a large tree is CPU work: off the request threads.
    let tree = tokio::task::spawn_blocking(move || allocation.tree())
        .await
        .map_err(posmul_api_kit::error::ApiError::internal)??;
    let dump: Dump = tree.dump();
    Ok(([(header::CACHE_CONTROL, CACHE)], axum::Json(dump)))
}
