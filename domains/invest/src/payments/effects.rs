//! What a payment's money does once it moves (I1, I2, I3): the one place where the payment
//! machine hands over to the part of the domain the payment was for. Called by
//! [`super::apply`] in the same transaction as the state change and its KRW postings, so a
//! payment is never paid without its effect, nor its effect done twice (apply moves a payment
//! at most once per state).

use chrono::{DateTime, Utc};
use posmul_core::money::Krw;
use sqlx::PgTransaction;

use super::Payment;
use crate::error::Result;

/// `payment` has just become paid.
pub(super) async fn on_paid(
    tx: &mut PgTransaction<'_>,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<()> {
    crate::stores::credits::on_paid(tx, payment, now).await?;
    crate::funding::on_payment_paid(tx, payment, now).await?;
    crate::ads::on_paid(tx, payment, now).await?;
    Ok(())
}

/// `refunded` more of `payment` has just been refunded.
pub(super) async fn on_refunded(
    tx: &mut PgTransaction<'_>,
    payment: &Payment,
    refunded: Krw,
    now: DateTime<Utc>,
) -> Result<()> {
    crate::stores::credits::on_refunded(tx, payment).await?;
    crate::funding::on_payment_refunded(tx, payment).await?;
    crate::ads::on_refunded(tx, payment, refunded, now).await?;
    Ok(())
}
