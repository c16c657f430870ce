//! The economy configuration and the daily budget B(d) (DESIGN.md M1).
//!
//! Admins set versions through the wallet domain's economy routes; every version is kept with who set
//! it, and a version applies from the UTC day *after* it was set. B(d) is computed from the
//! version in force on day d:
//!
//! ```text
//! EAT  = annual EBIT × (1 − tax rate − interest rate)
//! B(d) = min(floor(EAT / 365), on-chain dailyCap)        (integer wei)
//! ```
//!
//! Rounding rule: the rates are exact decimals (at most 9 places); the product and the division
//! are done in 256-bit integers and rounded **down** once, at the end, to whole wei. Without any
//! version, B(d) is 0. Predictions size their hourly pools from B(d) (M2); the wave itself is
//! bounded by the on-chain cap (M3).

use alloy::primitives::U256;
use chrono::{DateTime, NaiveDate, Utc};
use posmul_core::money::Wei;
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// Default tax rate (M1).
pub const DEFAULT_TAX_RATE: Decimal = Decimal::from_parts(495, 0, 0, false, 3);

/// A version of the economy configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EconomyVersion {
    pub version: i64,
    pub annual_ebit: Wei,
    pub tax_rate: Decimal,
    pub interest_rate: Decimal,
    pub effective_from: NaiveDate,
    pub set_by: Uuid,
    pub set_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// A new version, as an admin submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEconomyConfig {
    pub annual_ebit: Wei,
    pub tax_rate: Decimal,
    pub interest_rate: Decimal,
    pub note: Option<String>,
}

/// A configuration that cannot be accepted (the admin's mistake, a 4xx).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EconomyError {
    #[error("{field} must be between 0 and 1, got {value}")]
    RateOutOfRange { field: &'static str, value: Decimal },
    #[error("{field} has more than 9 decimal places: {value}")]
    RateTooPrecise { field: &'static str, value: Decimal },
    #[error("tax rate + interest rate must not exceed 1, got {0}")]
    RatesExceedOne(Decimal),
    #[error("the note is longer than 280 characters")]
    NoteTooLong,
    #[error("no day follows {0}")]
    DateOutOfRange(NaiveDate),
}

impl NewEconomyConfig {
    /// Checks the rates and the note.
    pub fn validate(&self) -> Result<(), EconomyError> {
        for (field, value) in [
            ("tax_rate", self.tax_rate),
            ("interest_rate", self.interest_rate),
        ] {
            if value < Decimal::ZERO || value > Decimal::ONE {
                return Err(EconomyError::RateOutOfRange { field, value });
            }
            if value.normalize().scale() > 9 {
                return Err(EconomyError::RateTooPrecise { field, value });
            }
        }
        let sum = self.tax_rate + self.interest_rate;
        if sum > Decimal::ONE {
            return Err(EconomyError::RatesExceedOne(sum));
        }
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 280) {
            return Err(EconomyError::NoteTooLong);
        }
        Ok(())
    }
}

/// floor(annual_ebit × (1 − tax − interest) / 365), not yet capped.
pub fn uncapped_daily_budget(annual_ebit: Wei, tax_rate: Decimal, interest_rate: Decimal) -> Wei {
    let keep = (Decimal::ONE - tax_rate - interest_rate).normalize();
    if keep <= Decimal::ZERO {
        return Wei::ZERO;
    }
    let mantissa = U256::from(keep.mantissa().unsigned_abs());
    let denominator = U256::from(365u64) * U256::from(10u64).pow(U256::from(keep.scale()));
    // annual_ebit < 2^256 and mantissa < 2^96: a saturating product only loses amounts no cap
    // could ever allow.
    Wei::from_u256(annual_ebit.as_u256().saturating_mul(mantissa) / denominator)
}

/// B(d): the uncapped budget, capped by the on-chain daily cap.
pub fn daily_budget(version: Option<&EconomyVersion>, cap: Wei) -> Wei {
    let uncapped = version.map_or(Wei::ZERO, |v| {
        uncapped_daily_budget(v.annual_ebit, v.tax_rate, v.interest_rate)
    });
    uncapped.min(cap)
}

/// Stores a new version effective from the day after `today` (in the caller's transaction
/// when given one, so that the API can write the audit entry with it).
#[tracing::instrument(skip_all, fields(%set_by), err)]
pub async fn set_version(
    db: impl PgExecutor<'_>,
    new: &NewEconomyConfig,
    set_by: Uuid,
    today: NaiveDate,
) -> Result<EconomyVersion, SetError> {
    new.validate()?;
    let effective_from = today
        .succ_opt()
        .ok_or(EconomyError::DateOutOfRange(today))?;
    let row = sqlx::query_as!(
        EconomyVersion,
        r#"INSERT INTO relayer.economy_config (annual_ebit, tax_rate, interest_rate, effective_from, set_by, note)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING version, annual_ebit AS "annual_ebit: Wei", tax_rate AS "tax_rate: Decimal",
                  interest_rate AS "interest_rate: Decimal", effective_from,
                     set_by, set_at, note"#,
        new.annual_ebit as _,
        new.tax_rate as _,
        new.interest_rate as _,
        effective_from,
        set_by,
        new.note,
    )
    .fetch_one(db)
    .await?;
    Ok(row)
}

/// Why a version was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error(transparent)]
    Invalid(#[from] EconomyError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The version in force on `date` (the newest one effective on or before it).
pub async fn in_force(
    db: impl PgExecutor<'_>,
    date: NaiveDate,
) -> sqlx::Result<Option<EconomyVersion>> {
    sqlx::query_as!(
        EconomyVersion,
        r#"SELECT version, annual_ebit AS "annual_ebit: Wei", tax_rate AS "tax_rate: Decimal",
                  interest_rate AS "interest_rate: Decimal", effective_from,
                  set_by, set_at, note
           FROM relayer.economy_config WHERE effective_from <= $1
           ORDER BY effective_from DESC, version DESC LIMIT 1"#,
        date,
    )
    .fetch_optional(db)
    .await
}

/// Every version, newest first.
pub async fn history(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<EconomyVersion>> {
    sqlx::query_as!(
        EconomyVersion,
        r#"SELECT version, annual_ebit AS "annual_ebit: Wei", tax_rate AS "tax_rate: Decimal",
                  interest_rate AS "interest_rate: Decimal", effective_from,
                  set_by, set_at, note
           FROM relayer.economy_config ORDER BY version DESC LIMIT $1"#,
        limit,
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn m1_the_budget_is_eat_over_365_rounded_down_to_whole_wei() {
        // EBIT 365 PMC, tax 0.495: EAT = 184.325 PMC, B = 0.505 PMC exactly.
        assert_eq!(
            uncapped_daily_budget(Wei::from_pmc(365), DEFAULT_TAX_RATE, Decimal::ZERO),
            Wei::parse_pmc("0.505").expect("pmc")
        );
        // 1000 wei × 0.505 / 365 = 1.383… → 1 wei.
        assert_eq!(
            uncapped_daily_budget(Wei::from_u256(U256::from(1000)), d("0.495"), d("0")),
            Wei::from_u256(U256::from(1))
        );
        assert_eq!(
            uncapped_daily_budget(Wei::from_pmc(1), d("0.6"), d("0.4")),
            Wei::ZERO
        );
    }

    #[test]
    fn m1_the_budget_never_exceeds_the_on_chain_cap() {
        let v = EconomyVersion {
            version: 1,
            annual_ebit: Wei::from_pmc(1_000_000_000),
            tax_rate: d("0.495"),
            interest_rate: d("0.05"),
            effective_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            set_by: Uuid::nil(),
            set_at: Utc::now(),
            note: None,
        };
        assert_eq!(
            daily_budget(Some(&v), Wei::from_pmc(1000)),
            Wei::from_pmc(1000)
        );
        assert_eq!(daily_budget(None, Wei::from_pmc(1000)), Wei::ZERO);
    }

    #[test]
    fn rates_out_of_range_or_summing_past_one_are_refused() {
        let ok = NewEconomyConfig {
            annual_ebit: Wei::from_pmc(1),
            tax_rate: d("0.495"),
            interest_rate: d("0"),
            note: None,
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = NewEconomyConfig {
            tax_rate: d("1.2"),
            ..ok.clone()
        };
        assert!(matches!(
            bad.validate(),
            Err(EconomyError::RateOutOfRange { .. })
        ));
        let bad = NewEconomyConfig {
            tax_rate: d("0.6"),
            interest_rate: d("0.5"),
            ..ok.clone()
        };
        assert!(matches!(
            bad.validate(),
            Err(EconomyError::RatesExceedOne(_))
        ));
        let bad = NewEconomyConfig {
            tax_rate: d("0.0000000001"),
            ..ok
        };
        assert!(matches!(
            bad.validate(),
            Err(EconomyError::RateTooPrecise { .. })
        ));
    }
}
