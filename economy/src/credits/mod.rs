//! PMC credits (DESIGN.md E3, M3): PMC earned off-chain, waiting for a daily Money Wave.
//!
//! A credit is one earning event of a user in wei on a UTC day. [`issue`] is the only way to
//! create one: it writes the credit and its two postings (credit issuance −amount, the user's
//! credit account +amount) in the caller's transaction, so the sum of all credit postings is zero
//! and every cached balance equals its postings (E1; [`audit`] runs the SQL proof).
//!
//! Every credit carries a mandatory idempotency key naming its business event
//! ("prediction:<id>", "payment:<provider id>"): issuing again with the same key and the same
//! content returns the first credit ([`Credit::replayed`]) and adds nothing; different content is
//! [`CreditError::IdempotencyConflict`]. Concurrent duplicates serialize on the key's unique
//! index, so exactly one is written.
//!
//! A credit's state follows the wave: `pending` until the relayer has put all of it in waves
//! (`in_wave`, with the `wave_day` of its last part: a credit larger than a day's room is split
//! across days, M8), `claimed` once the chain shows the claim. Those changes move no value
//! ([`lifecycle`]). A credit may carry the earliest time a wave takes it
//! ([`CreditRequest::wave_eligible_at`]: a settlement's dispute window, P6); until then it
//! waits, pending. A pending credit that no wave carries any part of, and only such a one, can
//! be taken back with [`revoke`] (a settlement corrected within its window): two more postings
//! reverse it, so E1 holds and it never reaches a wave.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use posmul_core::money::Wei;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgTransaction};
use uuid::Uuid;

use crate::ledger::{Reference, ReferenceKind};

pub mod debts;
pub mod lifecycle;

/// Where a credit comes from (E3).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum CreditSource {
    /// A won prediction's share of the game's pool.
    PredictionWin,
    /// A Local League payment: amount × the store's rate.
    LocalPayment,
    /// A Cloud Funding contribution to a FUNDED project.
    CloudFunding,
}

/// Where a credit is on its way to the chain.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum CreditState {
    /// Earned, not yet in a wave.
    Pending,
    /// In the wave of `wave_day`; claimable on chain once that wave is published.
    InWave,
    /// Claimed on chain.
    Claimed,
    /// Taken back before any wave carried it ([`revoke`]); counts nowhere.
    Revoked,
}

/// A credit to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRequest {
    pub user_id: Uuid,
    pub source: CreditSource,
    /// In wei; must be positive.
    pub amount: Wei,
    /// The UTC day it was earned.
    pub day: NaiveDate,
    pub reference: Reference,
    /// Names the business event; required.
    pub idempotency_key: String,
    /// The earliest time a wave may take it (stored to the microsecond); `None`: at once.
    pub wave_eligible_at: Option<DateTime<Utc>>,
}

/// An issued credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credit {
    pub id: Uuid,
    pub user_id: Uuid,
    pub source: CreditSource,
    pub amount: Wei,
    pub day: NaiveDate,
    pub state: CreditState,
    pub wave_day: Option<NaiveDate>,
    pub reference: Reference,
    /// The earliest time a wave may take it (`None`: at once).
    pub wave_eligible_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// True when the key already named this credit and nothing was added.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("a PMC credit must be positive")]
    ZeroAmount,
    #[error("an idempotency key is 1 to 255 characters")]
    BadKey,
    #[error("idempotency key {key:?} already names a different credit")]
    IdempotencyConflict { key: String },
    /// Only a pending credit that no wave carries can be revoked: one in a wave, in part (M8)
    /// or whole, or claimed, is irrevocable (E3).
    #[error(
        "credit {id} is {state:?} with {waved} wei in waves: only a pending credit no wave carries can be revoked"
    )]
    Irrevocable {
        id: Uuid,
        state: CreditState,
        waved: Wei,
    },
    #[error("no credit {0}")]
    NotFound(Uuid),
    #[error("credits database error")]
    Database(#[from] sqlx::Error),
    #[error("stored credits are inconsistent: {0}")]
    Corrupt(String),
}

pub type Result<T, E = CreditError> = std::result::Result<T, E>;

/// Issues a PMC credit (see the module docs for the guarantees).
#[tracing::instrument(skip_all, fields(source = ?req.source, user = %req.user_id), err(level = "info"))]
pub async fn issue(tx: &mut PgTransaction<'_>, req: CreditRequest) -> Result<Credit> {
    if req.amount.is_zero() {
        return Err(CreditError::ZeroAmount);
    }
    if req.idempotency_key.is_empty() || req.idempotency_key.chars().count() > 255 {
        return Err(CreditError::BadKey);
    }
    let conn: &mut PgConnection = tx;
    let id = Uuid::now_v7();
    let wave_eligible_at = req.wave_eligible_at.map(|t| t.trunc_subsecs(6));
    // One statement: claim the key, add to the user's account (opening it), post both sides.
    let created: Option<DateTime<Utc>> = sqlx::query_scalar!(
        r#"WITH c AS (
               INSERT INTO credits.credits (id, user_id, source, amount, day, reference_kind, reference_id, idempotency_key,
                                            wave_eligible_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (idempotency_key) DO NOTHING
               RETURNING id, created_at),
           acct AS (
               INSERT INTO credits.accounts (kind, reference_id, balance)
               SELECT 'user', $2, $4 FROM c
               ON CONFLICT (kind, reference_id) DO UPDATE SET balance = credits.accounts.balance + EXCLUDED.balance
               RETURNING id),
           p AS (
               INSERT INTO credits.postings (credit_id, account_id, amount, created_at)
               SELECT c.id, acct.id, $4::NUMERIC, c.created_at FROM c, acct
               UNION ALL
               SELECT c.id, i.id, -$4::NUMERIC, c.created_at FROM c, credits.accounts i WHERE i.kind = 'issuance'
               RETURNING 1)
           SELECT c.created_at AS "created_at!" FROM c WHERE (SELECT count(*) FROM p) = 2"#,
        id,
        req.user_id,
        req.source as _,
        req.amount as _,
        req.day,
        req.reference.kind as _,
        req.reference.id,
        &req.idempotency_key,
        wave_eligible_at,
    )
    .fetch_optional(&mut *conn)
    .await?;

    match created {
        Some(created_at) => {
            metrics::counter!("posmul_pmc_credits_total", "source" => format!("{:?}", req.source))
                .increment(1);
            Ok(Credit {
                id,
                user_id: req.user_id,
                source: req.source,
                amount: req.amount,
                day: req.day,
                state: CreditState::Pending,
                wave_day: None,
                reference: req.reference,
                wave_eligible_at,
                created_at,
                replayed: false,
            })
        }
        None => {
            let existing = by_key(conn, &req.idempotency_key)
                .await?
                .ok_or(CreditError::Database(sqlx::Error::RowNotFound))?;
            let same = existing.user_id == req.user_id
                && existing.source == req.source
                && existing.amount == req.amount
                && existing.day == req.day
                && existing.reference == req.reference
                && existing.wave_eligible_at == wave_eligible_at;
            if same {
                Ok(existing)
            } else {
                Err(CreditError::IdempotencyConflict {
                    key: req.idempotency_key,
                })
            }
        }
    }
}

/// Revokes pending credit `id` (see the module docs): it turns `revoked` and two postings
/// reverse its issuance, in the caller's transaction (READ COMMITTED, the default). A credit
/// that left `pending`, or that a wave carries any part of (M8: a split credit stays `pending`
/// until its parts cover it), is [`CreditError::Irrevocable`], so a credit is never both in a
/// wave and revoked. Returns its amount.
#[tracing::instrument(skip(tx), err(level = "info"))]
pub async fn revoke(tx: &mut PgTransaction<'_>, id: Uuid) -> Result<Wei> {
    let conn: &mut PgConnection = tx;
    // One function locks, checks and reverses: the API's database role may neither lock nor
    // write a credit itself (migrations/20261205002000_database_roles.sql).
    let r = sqlx::query!(
        r#"SELECT present AS "present!", state AS "state: CreditState", waved AS "waved: Wei", revoked AS "revoked: Wei"
           FROM credits.revoke_pending($1)"#,
        id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if !r.present {
        return Err(CreditError::NotFound(id));
    }
    let (Some(state), Some(waved)) = (r.state, r.waved) else {
        return Err(CreditError::Corrupt(format!("credit {id} has no state")));
    };
    let Some(revoked) = r.revoked else {
        return Err(CreditError::Irrevocable { id, state, waved });
    };
    metrics::counter!("posmul_pmc_credits_revoked_total").increment(1);
    Ok(revoked)
}

/// The credit an idempotency key names.
pub async fn by_key(conn: &mut PgConnection, key: &str) -> Result<Option<Credit>> {
    let credit = sqlx::query!(
        r#"SELECT id, user_id, source AS "source: CreditSource", amount AS "amount: Wei", day,
                  state AS "state: CreditState", wave_day,
                  reference_kind AS "reference_kind: ReferenceKind", reference_id, wave_eligible_at,
                  created_at
           FROM credits.credits WHERE idempotency_key = $1"#,
        key,
    )
    .fetch_optional(conn)
    .await?
    .map(|r| Credit {
        id: r.id,
        user_id: r.user_id,
        source: r.source,
        amount: r.amount,
        day: r.day,
        state: r.state,
        wave_day: r.wave_day,
        reference: Reference {
            kind: r.reference_kind,
            id: r.reference_id,
        },
        wave_eligible_at: r.wave_eligible_at,
        created_at: r.created_at,
        replayed: true,
    });
    Ok(credit)
}

/// A user's credits, newest first, strictly before the `(created_at, id)` cursor when given.
pub async fn list(
    conn: &mut PgConnection,
    user_id: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Credit>> {
    let rows = sqlx::query!(
        r#"SELECT id, user_id, source AS "source: CreditSource", amount AS "amount: Wei", day,
                  state AS "state: CreditState", wave_day,
                  reference_kind AS "reference_kind: ReferenceKind", reference_id, wave_eligible_at,
                  created_at
           FROM credits.credits
           WHERE user_id = $1 AND ($2::TIMESTAMPTZ IS NULL OR (created_at, id) < ($2, $3))
           ORDER BY created_at DESC, id DESC LIMIT $4"#,
        user_id,
        before.map(|b| b.0),
        before.map(|b| b.1),
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Credit {
            id: r.id,
            user_id: r.user_id,
            source: r.source,
            amount: r.amount,
            day: r.day,
            state: r.state,
            wave_day: r.wave_day,
            reference: Reference {
                kind: r.reference_kind,
                id: r.reference_id,
            },
            wave_eligible_at: r.wave_eligible_at,
            created_at: r.created_at,
            replayed: false,
        })
        .collect())
}

/// Totals of a user's credits by state. A credit that waves carry only in part (M8) counts its
/// parts in `in_wave` and its rest in `pending`, so the three always add up to `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Not yet in a wave.
    pub pending: Wei,
    /// In a wave (claimable once published) but not claimed.
    pub in_wave: Wei,
    pub claimed: Wei,
    /// Everything ever credited: the user's credit account balance.
    pub total: Wei,
}

/// Sums a user's credits by state (see [`Totals`]).
pub async fn totals(conn: &mut PgConnection, user_id: Uuid) -> Result<Totals> {
    let row = sqlx::query!(
        r#"SELECT COALESCE(SUM(c.amount - COALESCE(p.waved, 0)) FILTER (WHERE c.state = 'pending'), 0) AS "pending!: Wei",
                  COALESCE(SUM(c.amount) FILTER (WHERE c.state = 'in_wave'), 0)
                    + COALESCE(SUM(p.waved) FILTER (WHERE c.state = 'pending'), 0) AS "in_wave!: Wei",
                  COALESCE(SUM(c.amount) FILTER (WHERE c.state = 'claimed'), 0) AS "claimed!: Wei",
                  COALESCE((SELECT balance FROM credits.accounts WHERE kind = 'user' AND reference_id = $1), 0) AS "total!: Wei"
           FROM credits.credits c
           LEFT JOIN LATERAL (SELECT sum(wc.amount) AS waved FROM relayer.wave_credits wc
                              WHERE wc.credit_id = c.id) p ON c.state = 'pending'
           WHERE c.user_id = $1"#,
        user_id,
    )
    .fetch_one(conn)
    .await?;
    Ok(Totals {
        pending: row.pending,
        in_wave: row.in_wave,
        claimed: row.claimed,
        total: row.total,
    })
}

/// The result of `credits.check_zero_sum()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audit {
    /// The sum of all credit postings in wei (E1: "0").
    pub postings_sum: String,
    pub unbalanced_credits: i64,
    pub balance_mismatches: i64,
    pub negative_balances: i64,
}

impl Audit {
    pub fn is_exact(&self) -> bool {
        self.postings_sum == "0"
            && self.unbalanced_credits == 0
            && self.balance_mismatches == 0
            && self.negative_balances == 0
    }
}

/// Runs the SQL proof of E1 over the whole credit ledger.
pub async fn audit(conn: &mut PgConnection) -> Result<Audit> {
    let row = sqlx::query!(
        r#"SELECT postings_sum::TEXT AS "postings_sum!", unbalanced_credits AS "unbalanced_credits!",
                  balance_mismatches AS "balance_mismatches!", negative_balances AS "negative_balances!"
           FROM credits.check_zero_sum()"#
    )
    .fetch_one(conn)
    .await?;
    Ok(Audit {
        postings_sum: row.postings_sum,
        unbalanced_credits: row.unbalanced_credits,
        balance_mismatches: row.balance_mismatches,
        negative_balances: row.negative_balances,
    })
}
