//! The signed-in citizen's own wallet (E3, U1, M5): what they hold and have earned.
//!
//! - `GET /v1/me/wallet` — PMP balance; PMC credits by state; PMC claimable; the on-chain PMC
//!   balance of each linked wallet from the indexer's mirror with the block it is valid at; the
//!   level (U1).
//! - `GET /v1/me/wallet/history` — PMP postings and PMC credits in one timeline, newest first.
//!
//! Every PMC amount is shown both as a wei string and as a PMC decimal ([`PmcAmount`]). What an
//! address holds on chain is the mirror's answer ([`crate::mirror`]); what it can claim is the
//! money book's (`posmul_economy::wave`). The public view of any address is [`crate::explorer`].
//!
//! ## Sources
//! - On-chain balances: `chain.pmc_balances` (the balance at the indexer's `indexed_block`) and
//!   `chain.pmc_balance_at(…, finalized_block)` for the finalized one, for the chain `CHAIN_ID`.
//!   `null` when the indexer has not started on that chain.
//! - Claimable PMC of an address: its cumulative entitlement in the latest wave the relayer has
//!   published on chain (`relayer.waves` status `mined` or `finalized`, leaf in
//!   `relayer.wave_leaves`) minus what it has already claimed (`chain.wave_claims`, the highest
//!   cumulative amount). 0 until a wave that includes the address is published.
//!
//! ## Level (U1)
//! `level = floor((PMP + PMC) / 1000) + 1`, where PMC counts what the citizen holds or has
//! earned and not yet received: the on-chain balance of the linked wallets (at the indexed block)
//! plus the credits not yet claimed (all credits ever issued minus the wallets' claimed
//! cumulative amounts, never below 0). PMC is summed in wei and then rounded down to whole PMC.

use alloy::primitives::{Address, U256};
use axum::extract::{Query, State};
use chrono::{DateTime, NaiveDate, Utc};
use posmul_core::{
    WalletAddress,
    money::{WEI_PER_PMC, Wei},
};
use posmul_economy::wave;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::extract::AuthUser,
    credits::{self, CreditState},
    display::PmcAmount,
    error::{ApiError, ApiJson, ApiResult, Problem},
    ledger::{self, Account, AccountKind, Reference, ReferenceKind},
    mirror::{self, ChainBalance},
    pagination::{Page, PageParams},
    state::AppState,
};

/// The `/v1/me/wallet` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_wallet))
        .routes(routes!(my_wallet_history))
}

/// PMC credits (earned off-chain, E3) by state. A credit that waves carry only in part so far
/// (split over several days, M8) counts its parts in `in_wave` and its rest in `pending`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreditsView {
    /// Not yet in a wave.
    pub pending: PmcAmount,
    /// In a wave, not yet claimed.
    pub in_wave: PmcAmount,
    /// Claimed on chain.
    pub claimed: PmcAmount,
    /// Everything ever credited.
    pub total: PmcAmount,
}

/// A wallet linked to the account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkedWallet {
    /// EIP-55 checksummed.
    #[schema(value_type = String, example = "0x5FbDB2315678afecb367f032d93F642f64180aa3")]
    pub address: WalletAddress,
    /// `null` until the indexer mirrors the chain `CHAIN_ID`.
    pub onchain: Option<ChainBalance>,
    /// PMC the address may claim from published waves now (entitlement − claimed).
    pub claimable: PmcAmount,
}

/// How the level was computed (U1).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LevelView {
    /// floor((pmp + pmc_whole) / 1000) + 1.
    pub level: i64,
    pub pmp: i64,
    /// Whole PMC counted: linked wallets' on-chain balance + credits not yet claimed, rounded
    /// down.
    pub pmc_whole: String,
}

/// `GET /v1/me/wallet`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WalletView {
    pub user_id: Uuid,
    /// PMP balance (whole points).
    pub pmp: i64,
    /// PMC credits waiting for a wave (the same as `credits.pending`).
    pub pmc_pending: PmcAmount,
    /// PMC claimable now from published waves, over all linked wallets. 0 until the relayer has
    /// published a wave that includes one of them.
    pub pmc_claimable: PmcAmount,
    pub credits: CreditsView,
    /// The linked wallets (at most one today) with their on-chain PMC.
    pub wallets: Vec<LinkedWallet>,
    pub level: LevelView,
}

/// The signed-in user's wallet: PMP, PMC credits, PMC on chain, the level.
#[utoipa::path(get, path = "/v1/me/wallet", tag = "wallet", security(("bearer" = [])),
    responses(
        (status = 200, description = "the wallet", body = WalletView),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn my_wallet(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiJson<WalletView>> {
    let mut conn = state.db.acquire().await?;
    let pmp = ledger::balance(&mut conn, Account::user(user.user_id))
        .await?
        .get();
    let totals = credits::totals(&mut conn, user.user_id).await?;
    let wallets = linked_wallets(&mut conn, &state, user.user_id).await?;

    let sum = |of: fn(&WalletRow) -> Wei| {
        wallets
            .iter()
            .try_fold(Wei::ZERO, |acc, w| acc.checked_add(of(w)))
    };
    let (Some(claimable), Some(held), Some(claimed)) =
        (sum(|w| w.claimable), sum(|w| w.balance), sum(|w| w.claimed))
    else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "PMC sums overflow U256"
        )));
    };
    let unclaimed_credits = totals.total.saturating_sub(claimed);
    let pmc_whole = held.as_u256().saturating_add(unclaimed_credits.as_u256()) / WEI_PER_PMC;
    let level = level(pmp, pmc_whole);

    Ok(ApiJson(WalletView {
        user_id: user.user_id,
        pmp,
        pmc_pending: totals.pending.into(),
        pmc_claimable: claimable.into(),
        credits: CreditsView {
            pending: totals.pending.into(),
            in_wave: totals.in_wave.into(),
            claimed: totals.claimed.into(),
            total: totals.total.into(),
        },
        wallets: wallets.into_iter().map(|w| w.view).collect(),
        level: LevelView {
            level,
            pmp,
            pmc_whole: pmc_whole.to_string(),
        },
    }))
}

/// U1: floor((PMP + whole PMC) / 1000) + 1, saturating.
pub fn level(pmp: i64, pmc_whole: U256) -> i64 {
    let pmc = u64::try_from(pmc_whole).unwrap_or(u64::MAX);
    let points = u128::from(pmp.max(0).unsigned_abs()) + u128::from(pmc);
    i64::try_from(points / 1000 + 1).unwrap_or(i64::MAX)
}

struct WalletRow {
    view: LinkedWallet,
    balance: Wei,
    claimed: Wei,
    claimable: Wei,
}

/// The user's linked wallets (at most one today), in address order.
pub(crate) async fn linked_addresses(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> ApiResult<Vec<Address>> {
    let linked = sqlx::query_scalar!(
        r#"SELECT address AS "address: WalletAddress" FROM auth.wallets WHERE user_id = $1 ORDER BY address"#,
        user_id,
    )
    .fetch_all(db)
    .await?;
    Ok(linked.into_iter().map(WalletAddress::get).collect())
}

/// Each linked wallet with its PMC on chain (the mirror) and its standing in Money Wave (the
/// money book's answer, the same the claim routes give).
async fn linked_wallets(
    conn: &mut PgConnection,
    state: &AppState,
    user_id: Uuid,
) -> ApiResult<Vec<WalletRow>> {
    let chain_id = mirror::chain_id(state)?;
    let addresses = linked_addresses(&mut *conn, user_id).await?;
    // The API's clock decides which root's delay has passed (M6), as for the claim routes.
    let now = state.clock.now().await;
    let standings = wave::balances(&mut *conn, state.config.chain_id, now, &addresses).await?;
    let mut rows = Vec::with_capacity(standings.len());
    for standing in standings {
        let on_chain = mirror::balance(&mut *conn, chain_id, standing.account.into()).await?;
        let claimable = standing.claimable();
        rows.push(WalletRow {
            view: LinkedWallet {
                address: standing.account.into(),
                onchain: on_chain.map(|b| ChainBalance::new(chain_id, &b)),
                claimable: claimable.into(),
            },
            balance: on_chain.map_or(Wei::ZERO, |b| b.balance),
            claimed: standing.claimed,
            claimable,
        });
    }
    Ok(rows)
}

/// Which ledger a history line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Currency {
    Pmp,
    Pmc,
}

/// One line of `GET /v1/me/wallet/history`: a PMP posting or a PMC credit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WalletHistoryEntry {
    pub currency: Currency,
    /// PMP: the transfer id; PMC: the credit id.
    pub id: Uuid,
    /// PMP: the transfer kind (`user_transfer`, `stake`, …); PMC: the credit source
    /// (`prediction_win`, `local_payment`, `cloud_funding`).
    pub kind: String,
    /// PMP only: the signed amount (positive received, negative sent).
    pub pmp_amount: Option<i64>,
    /// PMP only: the balance right after.
    pub pmp_balance_after: Option<i64>,
    /// PMC only: the credited amount.
    pub pmc_amount: Option<PmcAmount>,
    /// PMC only: pending, in_wave, claimed, or revoked (taken back before any wave carried any
    /// of it: a settlement corrected within its dispute window). A credit stays pending until
    /// waves carry all of it: one larger than a day's room is split across days (M8), see
    /// `pmc_in_wave`.
    pub credit_state: Option<CreditState>,
    /// PMC only: how much of it waves already carry: all of it once in_wave or claimed, the
    /// parts so far while a split credit is still pending, 0 before and for a revoked one.
    pub pmc_in_wave: Option<PmcAmount>,
    /// PMC only: the UTC day it was earned.
    pub credit_day: Option<NaiveDate>,
    /// PMC only: the wave it landed in (of its last part, when split).
    pub wave_day: Option<NaiveDate>,
    /// PMP only: the account on the other side.
    pub counter_account: Option<Account>,
    pub reference: Reference,
    pub created_at: DateTime<Utc>,
}

/// The merged timeline's sort key: newest first, then PMC before PMP, then by id.
#[derive(Debug, Serialize, Deserialize)]
struct HistoryKey(DateTime<Utc>, u8, String);

/// The signed-in user's PMP postings and PMC credits, newest first.
#[utoipa::path(get, path = "/v1/me/wallet/history", tag = "wallet", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "a page of the timeline", body = Page<WalletHistoryEntry>),
        (status = 401, description = "not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn my_wallet_history(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<PageParams>,
) -> ApiResult<ApiJson<Page<WalletHistoryEntry>>> {
    let limit = params.limit()?;
    let after: Option<HistoryKey> = params.after()?;
    let (at, rank, key) = match after {
        Some(HistoryKey(at, rank, key)) => (Some(at), i16::from(rank), key),
        None => (None, 0, String::new()),
    };
    // Sort key per row: (created_at, rank, key); rank 1 = PMC, 0 = PMP; key = credit id or the
    // zero-padded posting id. Descending; a page starts strictly after the cursor.
    let rows = sqlx::query!(
        r#"(SELECT 'pmp' AS "currency!", p.created_at AS "created_at!", 0::SMALLINT AS "rank!",
                   lpad(p.id::TEXT, 20, '0') AS "key!",
                   t.id AS "id!", t.kind AS "kind!", p.amount AS "amount?", p.balance_after AS "balance_after?",
                   NULL::NUMERIC AS "credit_amount?: Wei", NULL::NUMERIC AS "in_wave?: Wei",
                   NULL::TEXT AS "state?: CreditState",
                   NULL::DATE AS "day?", NULL::DATE AS "wave_day?",
                   c.kind AS "counter_kind?: AccountKind", c.reference_id AS "counter_reference?",
                   t.reference_kind AS "reference_kind!: ReferenceKind", t.reference_id AS "reference_id!"
            FROM ledger.accounts a
            JOIN ledger.postings p ON p.account_id = a.id
            JOIN ledger.transfers t ON t.id = p.transfer_id
            LEFT JOIN LATERAL (
                SELECT o.kind, o.reference_id FROM ledger.postings q JOIN ledger.accounts o ON o.id = q.account_id
                WHERE q.transfer_id = p.transfer_id AND sign(q.amount) <> sign(p.amount)
                ORDER BY abs(q.amount) DESC, q.id LIMIT 1) c ON true
            WHERE a.kind = 'user' AND a.reference_id = $1
              AND ($2::TIMESTAMPTZ IS NULL OR (p.created_at, 0::SMALLINT, lpad(p.id::TEXT, 20, '0')) < ($2, $3, $4))
            ORDER BY p.created_at DESC, p.id DESC LIMIT $5)
           UNION ALL
           (SELECT 'pmc', cr.created_at, 1::SMALLINT, cr.id::TEXT,
                   cr.id, cr.source, NULL, NULL, cr.amount,
                   CASE WHEN cr.state = 'pending'
                        THEN COALESCE((SELECT sum(wc.amount) FROM relayer.wave_credits wc WHERE wc.credit_id = cr.id), 0)
                        WHEN cr.state = 'revoked' THEN 0
                        ELSE cr.amount END,
                   cr.state,
                   cr.day, cr.wave_day, NULL, NULL,
                   cr.reference_kind, cr.reference_id
            FROM credits.credits cr
            WHERE cr.user_id = $1
              AND ($2::TIMESTAMPTZ IS NULL OR (cr.created_at, 1::SMALLINT, cr.id::TEXT) < ($2, $3, $4))
            ORDER BY cr.created_at DESC, cr.id::TEXT DESC LIMIT $5)
           ORDER BY 2 DESC, 3 DESC, 4 DESC
           LIMIT $5"#,
        user.user_id,
        at,
        rank,
        key,
        limit + 1,
    )
    .fetch_all(&state.db)
    .await?;

    let entries: Vec<(WalletHistoryEntry, HistoryKey)> = rows
        .into_iter()
        .map(|r| {
            let cursor = HistoryKey(r.created_at, u8::try_from(r.rank).unwrap_or(0), r.key);
            let entry = WalletHistoryEntry {
                currency: if r.currency == "pmc" {
                    Currency::Pmc
                } else {
                    Currency::Pmp
                },
                id: r.id,
                kind: r.kind,
                pmp_amount: r.amount,
                pmp_balance_after: r.balance_after,
                pmc_amount: r.credit_amount.map(PmcAmount::from),
                credit_state: r.state,
                pmc_in_wave: r.in_wave.map(PmcAmount::from),
                credit_day: r.day,
                wave_day: r.wave_day,
                counter_account: r
                    .counter_kind
                    .zip(r.counter_reference)
                    .map(|(kind, reference_id)| Account { kind, reference_id }),
                reference: Reference {
                    kind: r.reference_kind,
                    id: r.reference_id,
                },
                created_at: r.created_at,
            };
            (entry, cursor)
        })
        .collect();
    let page = Page::from_rows(entries, limit, |(_, k)| HistoryKey(k.0, k.1, k.2.clone()));
    Ok(ApiJson(Page {
        items: page.items.into_iter().map(|(e, _)| e).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u1_the_level_is_a_thousandth_of_pmp_plus_whole_pmc_plus_one() {
        assert_eq!(level(0, U256::ZERO), 1);
        assert_eq!(level(999, U256::ZERO), 1);
        assert_eq!(level(999, U256::from(1)), 2);
        assert_eq!(level(2500, U256::from(1500)), 5);
        assert_eq!(
            level(i64::MAX, U256::MAX),
            i64::try_from((u128::from(i64::MAX as u64) + u128::from(u64::MAX)) / 1000 + 1).unwrap()
        );
    }
}
