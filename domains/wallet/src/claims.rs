//! PMC claims (docs/DESIGN.md M5): what a wallet needs to claim its PMC itself, and a
//! gas-sponsored claim by the relayer.
//!
//! - `GET /v1/me/pmc/claim` — for each linked wallet with a leaf in the current wave (the root
//!   MoneyWave's `currentRoot` is at the API's clock, M6: a root still in its delay is not offered,
//!   since the chain would refuse its proofs, and a revoked one never is): the cumulative amount,
//!   the Merkle proof, the root and day, the MoneyWave address and chain id, and what is already
//!   claimed (from the indexer's mirror) — the arguments of
//!   `MoneyWave.claim(account, cumulativeAmount, proof)`. `pending` names the wave waiting out its
//!   delay, if any, and when it becomes claimable, so a client can come back then. A user with nothing gets a 404
//!   problem saying why: `no-wave-yet`, `no-wallet-linked` or `nothing-to-claim`.
//! - `POST /v1/me/pmc/claim-for-me` — queues a claim; the relayer sends queued claims in
//!   `claimMany` batches (the tokens always go to the leaf's account). One open request per
//!   address (a repeat returns it), rate limited per user.
//!
//! Which wave is current, what a wallet is entitled to and has claimed, and its proof are the
//! money book's answers (`posmul_economy::wave`); proofs are checked against the root before
//! they are returned.

use axum::{extract::State, http::StatusCode};
use posmul_core::WalletAddress;
use posmul_economy::{claims as queue, wave};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::extract::AuthUser,
    config::Rate,
    display::PmcAmount,
    error::{ApiResult, Problem, WalletError},
    my_wallet,
    state::AppState,
};

/// Claim-for-me requests a user may make per minute.
const CLAIM_FOR_ME_RATE: Rate = Rate { per_minute: 3 };

/// The claim routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_claim))
        .routes(routes!(claim_for_me))
}

/// One wallet's claim.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WalletClaim {
    /// The leaf's account (checksummed); the tokens go there whoever sends the claim.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub account: WalletAddress,
    /// The `cumulativeAmount` argument of `claim`.
    pub cumulative_amount: PmcAmount,
    /// Already claimed (indexer mirror).
    pub claimed: PmcAmount,
    /// What a claim pays now.
    pub claimable: PmcAmount,
    /// The `proof` argument: 0x-hex 32-byte words, leaf to root.
    pub proof: Vec<String>,
}

/// `GET /v1/me/pmc/claim`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimView {
    pub chain_id: i64,
    /// The MoneyWave contract to call (checksummed).
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub contract: WalletAddress,
    /// The wave whose root the proofs are for (MoneyWave's `currentRoot`).
    pub day: i64,
    pub root: String,
    pub claims: Vec<WalletClaim>,
    /// A newer wave whose root is still in its delay (M6): its proofs are served from
    /// `claimable_at`, unless the guardian revokes it first. Absent when none is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingWaveView>,
}

/// A wave on chain whose root is not claimable yet (M6).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PendingWaveView {
    pub day: i64,
    pub root: String,
    /// When claims can use its root (RFC 3339).
    pub claimable_at: chrono::DateTime<chrono::Utc>,
}

/// A queued claim-for-me request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimRequestView {
    pub id: i64,
    /// The leaf's account (checksummed).
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub account: WalletAddress,
    /// queued, submitted or done.
    pub status: String,
}

/// `POST /v1/me/pmc/claim-for-me`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimForMeView {
    pub requests: Vec<ClaimRequestView>,
}

/// The current wave of the configured chain and, for each linked wallet with a leaf in it, its
/// proof and standing (the money book answers every question; this only shapes the reply).
struct Standing {
    wave: wave::PublishedWave,
    pending: Option<wave::PendingWave>,
    wallets: Vec<(wave::ClaimProof, wave::WaveBalance)>,
}

/// The user's claims against the latest published wave: at least one wallet with a leaf, or a
/// [`WalletError`] saying why there is none.
async fn standing_of(state: &AppState, user: &AuthUser) -> ApiResult<Standing> {
    // The API's clock says which root's delay has passed (docs/ARCHITECTURE.md, One clock).
    let now = state.clock.now().await;
    let Some(current) = wave::current(&state.db, state.config.chain_id, now).await? else {
        return Err(WalletError::NoWaveYet.into());
    };
    let pending = wave::pending(&state.db, state.config.chain_id, now).await?;
    let wallets = my_wallet::linked_addresses(&state.db, user.user_id).await?;
    if wallets.is_empty() {
        return Err(WalletError::NoWalletLinked.into());
    }
    let balances = wave::balances(&state.db, current.chain_id, now, &wallets).await?;
    let mut out = Vec::new();
    for balance in balances {
        if let Some(proof) = wave::proof(&state.db, &current, balance.account).await? {
            out.push((proof, balance));
        }
    }
    if out.is_empty() {
        return Err(WalletError::NotInAnyWave.into());
    }
    Ok(Standing {
        wave: current,
        pending,
        wallets: out,
    })
}

fn view(s: &Standing) -> ClaimView {
    ClaimView {
        chain_id: s.wave.chain_id as i64,
        contract: s.wave.money_wave.into(),
        day: s.wave.day as i64,
        root: s.wave.root.to_string(),
        claims: s
            .wallets
            .iter()
            .map(|(p, b)| WalletClaim {
                account: p.account.into(),
                cumulative_amount: p.cumulative_amount.into(),
                claimed: b.claimed.into(),
                claimable: b.claimable().into(),
                proof: p.proof.iter().map(|h| h.to_string()).collect(),
            })
            .collect(),
        pending: s.pending.map(|p| PendingWaveView {
            day: p.day as i64,
            root: p.root.to_string(),
            claimable_at: p.claimable_at,
        }),
    }
}

#[utoipa::path(get, path = "/v1/me/pmc/claim", tag = "pmc", security(("bearer" = [])),
    responses(
        (status = 200, description = "the proofs of the linked wallets that have a leaf (a fully claimed one shows claimable 0)", body = ClaimView),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "nothing to claim: `no-wave-yet`, `no-wallet-linked` or `nothing-to-claim`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id), err(level = "info"))]
pub async fn my_claim(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<axum::Json<ClaimView>> {
    standing_of(&state, &user)
        .await
        .map(|s| axum::Json(view(&s)))
}

/// Asks the relayer to claim for the user's wallets (gas sponsored, batched with `claimMany`).
#[utoipa::path(post, path = "/v1/me/pmc/claim-for-me", tag = "pmc", security(("bearer" = [])),
    responses(
        (status = 202, description = "claims queued (or already queued)", body = ClaimForMeView),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "nothing to claim: `no-wave-yet`, `no-wallet-linked` or `nothing-to-claim` (also when everything is claimed already)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id), err(level = "info"))]
pub async fn claim_for_me(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<(StatusCode, axum::Json<ClaimForMeView>)> {
    state
        .limiter
        .check(&format!("claim-for-me:{}", user.user_id), CLAIM_FOR_ME_RATE)
        .await?;
    let standing = standing_of(&state, &user).await?;
    let mut requests = Vec::new();
    for (_, balance) in standing.wallets {
        if balance.claimable().is_zero() {
            continue;
        }
        let r = queue::enqueue(&state.db, user.user_id, balance.account).await?;
        requests.push(ClaimRequestView {
            id: r.id,
            account: r.account.into(),
            status: r.status,
        });
    }
    if requests.is_empty() {
        return Err(WalletError::AllClaimed.into());
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ClaimForMeView { requests }),
    ))
}
