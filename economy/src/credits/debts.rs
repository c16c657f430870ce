//! PMC debts (DESIGN.md I2, E3): PMC a citizen owes back, repaid first by their later credits.
//!
//! A credit that a wave already carries cannot be taken back (E3): when the money behind it is
//! refunded (a store payment, I2), the PMC it earned becomes a debt ([`incur`]). Every later
//! credit of that citizen issued through [`issue`] repays what is outstanding first: the credit
//! is issued net of the repayment, so the repaid part never reaches a wave, and a credit the
//! debt takes whole is not issued at all.
//!
//! `credits.debt_events` is the debt's own ledger (+ incurred, − repaid, each named by an
//! idempotency key); `credits.debts` caches the outstanding total per citizen, locked while it
//! changes, so concurrent credits of one citizen never repay the same debt twice. [`audit`]
//! proves the cache equals the events.

use posmul_core::money::Wei;
use sqlx::{PgConnection, PgTransaction};
use uuid::Uuid;

use super::{Credit, CreditError, CreditRequest, Result};
use crate::ledger::Reference;

/// What [`issue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The credit, net of the repayment; none when the debt took it whole.
    pub credit: Option<Credit>,
    /// Wei of the request that repaid the citizen's debt.
    pub repaid: Wei,
}

/// Issues `req` after repaying the citizen's outstanding debt from it (see the module docs),
/// in the caller's transaction. Idempotent by `req.idempotency_key` like
/// [`super::issue`]: a replay repays nothing more and returns the same credit.
#[tracing::instrument(skip_all, fields(source = ?req.source, user = %req.user_id), err(level = "info"))]
pub async fn issue(tx: &mut PgTransaction<'_>, req: CreditRequest) -> Result<Issued> {
    if req.amount.is_zero() {
        return Err(CreditError::ZeroAmount);
    }
    let repay_key = format!("{}:repay", req.idempotency_key);
    // Lock the citizen's debt first (when there is one), so that a concurrent duplicate of this
    // request sees the repayment below once it runs.
    let outstanding: Option<Wei> = sqlx::query_scalar!(
        r#"SELECT outstanding AS "outstanding: Wei" FROM credits.debts WHERE user_id = $1 FOR UPDATE"#,
        req.user_id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    let replayed: Option<Wei> = sqlx::query_scalar!(
        r#"SELECT (-amount)::NUMERIC(78, 0) AS "repaid!: Wei" FROM credits.debt_events WHERE idempotency_key = $1"#,
        repay_key,
    )
    .fetch_optional(&mut **tx)
    .await?;
    let repaid = match replayed {
        Some(r) => r,
        None => {
            let r = outstanding.unwrap_or(Wei::ZERO).min(req.amount);
            if !r.is_zero() {
                record(tx, req.user_id, r, false, &repay_key, req.reference).await?;
            }
            r
        }
    };
    let net = req
        .amount
        .checked_sub(repaid)
        .ok_or_else(|| CreditError::Corrupt(format!("repaid {repaid} of {}", req.amount)))?;
    let credit = if net.is_zero() {
        None
    } else {
        Some(super::issue(tx, CreditRequest { amount: net, ..req }).await?)
    };
    Ok(Issued { credit, repaid })
}

/// Records that `user_id` owes `amount` (positive), named by `key`; a replay of the key adds
/// nothing. Returns whether it was new.
#[tracing::instrument(skip(tx), err(level = "info"))]
pub async fn incur(
    tx: &mut PgTransaction<'_>,
    user_id: Uuid,
    amount: Wei,
    key: &str,
    reference: Reference,
) -> Result<bool> {
    if amount.is_zero() {
        return Err(CreditError::ZeroAmount);
    }
    // The debt row first (opened at zero), locked: the event and the total change together.
    sqlx::query!(
        "INSERT INTO credits.debts (user_id, outstanding) VALUES ($1, 0) ON CONFLICT (user_id) DO NOTHING",
        user_id,
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "SELECT 1 AS one FROM credits.debts WHERE user_id = $1 FOR UPDATE",
        user_id
    )
    .fetch_one(&mut **tx)
    .await?;
    let seen = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM credits.debt_events WHERE idempotency_key = $1) AS "x!""#,
        key,
    )
    .fetch_one(&mut **tx)
    .await?;
    if seen {
        return Ok(false);
    }
    record(tx, user_id, amount, true, key, reference).await?;
    metrics::counter!("posmul_pmc_debts_incurred_total").increment(1);
    Ok(true)
}

/// Writes one event and moves the cached total with it (the debt row is locked by the caller).
async fn record(
    tx: &mut PgTransaction<'_>,
    user_id: Uuid,
    amount: Wei,
    incurred: bool,
    key: &str,
    reference: Reference,
) -> Result<()> {
    let changed = sqlx::query!(
        r#"WITH e AS (
               INSERT INTO credits.debt_events (id, user_id, amount, idempotency_key, reference_kind, reference_id)
               VALUES ($1, $2, CASE WHEN $3 THEN $4::NUMERIC ELSE -$4::NUMERIC END, $5, $6, $7)
               RETURNING amount)
           UPDATE credits.debts d SET outstanding = d.outstanding + e.amount, updated_at = now()
           FROM e WHERE d.user_id = $2"#,
        Uuid::now_v7(),
        user_id,
        incurred,
        amount as Wei,
        key,
        reference.kind as _,
        reference.id,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(CreditError::Corrupt(format!(
            "the debt of {user_id} did not move with its event"
        )));
    }
    Ok(())
}

/// What `user_id` owes now.
pub async fn outstanding(conn: &mut PgConnection, user_id: Uuid) -> Result<Wei> {
    Ok(sqlx::query_scalar!(
        r#"SELECT outstanding AS "outstanding: Wei" FROM credits.debts WHERE user_id = $1"#,
        user_id,
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or(Wei::ZERO))
}

/// Citizens whose cached debt differs from the sum of their events (none when exact).
pub async fn audit(conn: &mut PgConnection) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT d.user_id AS "user_id!"
           FROM credits.debts d
           LEFT JOIN (SELECT user_id, SUM(amount) AS total FROM credits.debt_events GROUP BY user_id) e
             ON e.user_id = d.user_id
           WHERE d.outstanding <> COALESCE(e.total, 0)
           UNION
           SELECT e.user_id FROM credits.debt_events e
           WHERE NOT EXISTS (SELECT 1 FROM credits.debts d WHERE d.user_id = e.user_id)"#,
    )
    .fetch_all(conn)
    .await?)
}

/// Owes again what the credits of `reference` repaid of `user_id`'s debt, when those credits
/// are taken back (a settlement corrected within its window, P6): the repayment came from PMC
/// the citizen no longer earns. Named by `key`; returns the wei owed again.
#[tracing::instrument(skip(tx), err(level = "info"))]
pub async fn restore_repayments(
    tx: &mut PgTransaction<'_>,
    user_id: Uuid,
    reference: Reference,
    key: &str,
) -> Result<Wei> {
    // Repayments are negative events, restorations positive: a negative net is still repaid.
    let repaid: Option<Wei> = sqlx::query_scalar!(
        r#"SELECT (-SUM(amount))::NUMERIC(78, 0) AS "repaid: Wei" FROM credits.debt_events
           WHERE user_id = $1 AND reference_kind = $2 AND reference_id = $3
           HAVING SUM(amount) < 0"#,
        user_id,
        reference.kind as _,
        reference.id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .flatten();
    match repaid {
        Some(r) if !r.is_zero() => {
            incur(tx, user_id, r, key, reference).await?;
            Ok(r)
        }
        _ => Ok(Wei::ZERO),
    }
}
