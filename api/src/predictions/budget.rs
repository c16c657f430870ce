//! B(d), the daily Money Wave budget (M1), as the hourly pools read it (M2).
//!
//! The relayer owns the economy configuration (`relayer.economy_config`, set by admins) and the
//! formula; this is the API's one reading of it, kept in this one function:
//!
//! ```text
//! EAT  = annual EBIT × (1 − tax rate − interest rate)       (the version in force on day d)
//! B(d) = min(floor(EAT / 365), on-chain dailyCap)            (integer wei, rounded down once)
//! ```
//!
//! The on-chain cap is the newest `DailyCapChanged` the indexer mirrored
//! (`chain.wave_cap_changes`), else the cap the relayer read when it built its newest wave
//! (`relayer.waves.cap`); when neither is known yet, B(d) is the uncapped value. Without any
//! economy version, B(d) is 0.

use alloy::primitives::U256;
use chrono::NaiveDate;
use posmul_core::money::Wei;
use rust_decimal::Decimal;
use sqlx::{PgConnection, Row};

/// floor(annual_ebit × (1 − tax − interest) / 365), exact in 256-bit integers.
pub fn uncapped(annual_ebit: Wei, tax_rate: Decimal, interest_rate: Decimal) -> Wei {
    let keep = (Decimal::ONE - tax_rate - interest_rate).normalize();
    if keep <= Decimal::ZERO {
        return Wei::ZERO;
    }
    let mantissa = U256::from(keep.mantissa().unsigned_abs());
    let denominator = U256::from(365u64) * U256::from(10u64).pow(U256::from(keep.scale()));
    Wei(annual_ebit.0.saturating_mul(mantissa) / denominator)
}

/// B(d) for `day` (see the module docs).
#[tracing::instrument(skip(conn), err)]
pub async fn daily_budget(conn: &mut PgConnection, day: NaiveDate) -> sqlx::Result<Wei> {
    let version = sqlx::query(
        "SELECT annual_ebit, tax_rate, interest_rate FROM relayer.economy_config
         WHERE effective_from <= $1 ORDER BY effective_from DESC, version DESC LIMIT 1",
    )
    .bind(day)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(version) = version else {
        return Ok(Wei::ZERO);
    };
    let budget = uncapped(
        version.try_get("annual_ebit")?,
        version.try_get("tax_rate")?,
        version.try_get("interest_rate")?,
    );
    let cap: Option<Wei> = sqlx::query_scalar(
        "SELECT cap FROM (
             (SELECT new_cap AS cap, 0 AS source FROM chain.wave_cap_changes
              ORDER BY block_number DESC, log_index DESC LIMIT 1)
             UNION ALL
             (SELECT cap, 1 AS source FROM relayer.waves WHERE date <= $1 ORDER BY day DESC LIMIT 1)
         ) caps ORDER BY source LIMIT 1",
    )
    .bind(day)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(cap.map_or(budget, |cap| budget.min(cap)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m1_the_budget_is_eat_over_365_rounded_down() {
        // 365 PMC of EBIT at the default tax 0.495: 0.505 PMC a day.
        let b = uncapped(Wei::from_pmc(365), Decimal::new(495, 3), Decimal::ZERO);
        assert_eq!(b, Wei(U256::from(505_000_000_000_000_000u64)));
        // 1000 wei × 0.505 / 365 = 1.38… -> 1.
        assert_eq!(
            uncapped(
                Wei(U256::from(1000u64)),
                Decimal::new(495, 3),
                Decimal::ZERO
            ),
            Wei(U256::from(1u64))
        );
        assert_eq!(
            uncapped(Wei::from_pmc(1), Decimal::ONE, Decimal::ZERO),
            Wei::ZERO
        );
    }
}
