//! The PMC a store payment earns (I2, E3), and what a refund takes back.
//!
//! When a store payment becomes paid, its payer is credited
//! `floor(amount × the store's rate at payment time × the PMC per KRW in force that day)` wei
//! (`economy::rates::wei_for_krw`); the rates used are kept with the payment
//! (`invest.store_credits`) so that a refund is converted with the same ones. The credit joins
//! the Money Wave like any other and repays the payer's outstanding PMC debt first
//! (`economy::credits::debts::issue`).
//!
//! A refund lowers what the payment earns to what its unrefunded part converts to. The
//! difference is taken back from the pending credit when no wave carries it yet (the credit is
//! revoked and, after a partial refund, issued again for what is left); PMC a wave already
//! carries cannot come back, so that part becomes a debt the payer's later credits repay first.

use chrono::{DateTime, Utc};
use posmul_core::{day::UtcDay, money::Wei};
use posmul_economy::{
    credits::{self, CreditError, CreditRequest, CreditSource, debts},
    ledger::{Reference, ReferenceKind},
    rates,
};
use rust_decimal::Decimal;
use sqlx::PgTransaction;
use uuid::Uuid;

use crate::{
    error::{InvestError, Result},
    payments::Payment,
};

/// Basis points per unit (100 bp = 1 %).
const BP: u32 = 4;

fn reference(payment: &Payment) -> Reference {
    Reference {
        kind: ReferenceKind::Payment,
        id: payment.id,
    }
}

/// Credits the payer of a just-paid store payment (no-op for other payments, and for a payment
/// credited before).
pub async fn on_paid(
    tx: &mut PgTransaction<'_>,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(store_id) = payment.store_id else {
        return Ok(());
    };
    let paid_at = payment.paid_at.unwrap_or(now);
    let rate_bp = super::rate_at(&mut **tx, store_id, paid_at).await?;
    let day = UtcDay::of(paid_at).into();
    let pmc_per_krw = rates::in_force(&mut **tx, day).await?.store_pmc_per_krw;
    let entitled = convert(payment, payment.amount, rate_bp, pmc_per_krw)?;
    let fresh = sqlx::query!(
        "INSERT INTO invest.store_credits (payment_id, user_id, rate_bp, pmc_per_krw, entitled)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id) DO NOTHING",
        payment.id,
        payment.user_id,
        rate_bp,
        pmc_per_krw as _,
        entitled as Wei,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh || entitled.is_zero() {
        return Ok(());
    }
    let issued = debts::issue(
        tx,
        CreditRequest {
            user_id: payment.user_id,
            source: CreditSource::LocalPayment,
            amount: entitled,
            day,
            reference: reference(payment),
            idempotency_key: format!("payment:{}:store", payment.id),
            wave_eligible_at: None,
        },
    )
    .await?;
    set(tx, payment.id, entitled, issued.credit.map(|c| c.id)).await
}

/// Takes back what a refund of a store payment no longer earns (see the module docs);
/// `payment.refunded` is already the new refunded total.
pub async fn on_refunded(tx: &mut PgTransaction<'_>, payment: &Payment) -> Result<()> {
    if payment.store_id.is_none() {
        return Ok(());
    }
    let Some(row) = sqlx::query!(
        r#"SELECT rate_bp, pmc_per_krw AS "pmc_per_krw: Decimal", entitled AS "entitled: Wei", credit_id, user_id
           FROM invest.store_credits WHERE payment_id = $1 FOR UPDATE"#,
        payment.id,
    )
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(());
    };
    let left = payment
        .amount
        .checked_sub(payment.refunded)
        .ok_or(InvestError::ConversionOverflow)?;
    let target = convert(payment, left, row.rate_bp, row.pmc_per_krw)?;
    let Some(take) = row.entitled.checked_sub(target).filter(|t| !t.is_zero()) else {
        return Ok(());
    };
    // Whatever a pending credit still holds comes back whole; its remainder is issued again.
    let mut recovered = Wei::ZERO;
    let mut credit_id = row.credit_id;
    if let Some(id) = row.credit_id {
        match credits::revoke(tx, id).await {
            Ok(amount) => {
                recovered = amount;
                credit_id = None;
            }
            Err(CreditError::Irrevocable { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let key = format!("payment:{}:refunded:{}", payment.id, payment.refunded.get());
    if recovered > take {
        let again = recovered
            .checked_sub(take)
            .ok_or(InvestError::ConversionOverflow)?;
        let issued = debts::issue(
            tx,
            CreditRequest {
                user_id: row.user_id,
                source: CreditSource::LocalPayment,
                amount: again,
                day: UtcDay::of(payment.paid_at.unwrap_or(payment.created_at)).into(),
                reference: reference(payment),
                idempotency_key: key,
                wave_eligible_at: None,
            },
        )
        .await?;
        credit_id = issued.credit.map(|c| c.id);
    } else if take > recovered {
        let owed = take
            .checked_sub(recovered)
            .ok_or(InvestError::ConversionOverflow)?;
        debts::incur(
            tx,
            row.user_id,
            owed,
            &format!("{key}:debt"),
            reference(payment),
        )
        .await?;
        tracing::info!(payment = %payment.id, owed = %owed, "a refunded store payment's PMC was already in a wave: recorded as a debt");
    }
    set(tx, payment.id, target, credit_id).await
}

fn convert(
    payment: &Payment,
    krw: posmul_core::money::Krw,
    rate_bp: i32,
    pmc_per_krw: Decimal,
) -> Result<Wei> {
    let rate = Decimal::new(i64::from(rate_bp), BP);
    rates::wei_for_krw(krw, &[rate, pmc_per_krw]).ok_or_else(|| {
        tracing::error!(payment = %payment.id, "a store credit's conversion overflowed");
        InvestError::ConversionOverflow
    })
}

async fn set(
    tx: &mut PgTransaction<'_>,
    payment_id: Uuid,
    entitled: Wei,
    credit_id: Option<Uuid>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE invest.store_credits SET entitled = $2, credit_id = $3, updated_at = now() WHERE payment_id = $1",
        payment_id,
        entitled as Wei,
        credit_id,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
