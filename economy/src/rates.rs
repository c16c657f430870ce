//! The investment rates (DESIGN.md I1, I2, I3, E3): what real money converts to.
//!
//! A part of the economy configuration, versioned the same way (M1): admins set versions, each
//! is kept with who set it and applies from the UTC day *after* it was set, so a payment made
//! today is always converted at a rate known before the day began. Without any version the
//! defaults ([`Rates::DEFAULT`]) apply.
//!
//! Rounding rule: the rates are exact decimals (at most 9 places); a conversion multiplies whole
//! won by them in integers and rounds **down** once, at the end, to whole PMP ([`pmp_for_krw`])
//! or whole wei ([`wei_for_krw`]).

use alloy::primitives::U256;
use chrono::{DateTime, NaiveDate, Utc};
use posmul_core::money::{Krw, Pmp, Wei};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// The rates in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rates {
    /// A campaign's PMP budget per KRW paid (I1).
    pub pmp_per_krw: Decimal,
    /// PMC per KRW of a store payment, before the store's own rate (I2).
    pub store_pmc_per_krw: Decimal,
    /// PMC per KRW contributed to a funded project (I3).
    pub funding_pmc_per_krw: Decimal,
    /// Ad views a citizen may complete per UTC day over all campaigns (I1).
    pub ad_views_per_day: i32,
}

impl Rates {
    /// 1 PMP per KRW; 1 PMC per 100 KRW for stores and for funding; 20 ad views a day.
    pub const DEFAULT: Rates = Rates {
        pmp_per_krw: Decimal::ONE,
        store_pmc_per_krw: Decimal::from_parts(1, 0, 0, false, 2),
        funding_pmc_per_krw: Decimal::from_parts(1, 0, 0, false, 2),
        ad_views_per_day: 20,
    };

    /// Checks every field (the admin's mistakes, 4xx).
    pub fn validate(&self) -> Result<(), RatesError> {
        let max = Decimal::from(1_000_000);
        for (field, value) in [
            ("pmp_per_krw", self.pmp_per_krw),
            ("store_pmc_per_krw", self.store_pmc_per_krw),
            ("funding_pmc_per_krw", self.funding_pmc_per_krw),
        ] {
            if value <= Decimal::ZERO || value > max {
                return Err(RatesError::OutOfRange { field, value });
            }
            if value.normalize().scale() > 9 {
                return Err(RatesError::TooPrecise { field, value });
            }
        }
        if !(1..=10_000).contains(&self.ad_views_per_day) {
            return Err(RatesError::ViewsOutOfRange(self.ad_views_per_day));
        }
        Ok(())
    }
}

/// A stored version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RatesVersion {
    pub version: i64,
    pub rates: Rates,
    pub effective_from: NaiveDate,
    pub set_by: Uuid,
    pub set_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Rates that cannot be accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RatesError {
    #[error("{field} must be above 0 and at most 1000000, got {value}")]
    OutOfRange { field: &'static str, value: Decimal },
    #[error("{field} has more than 9 decimal places: {value}")]
    TooPrecise { field: &'static str, value: Decimal },
    #[error("ad_views_per_day must be between 1 and 10000, got {0}")]
    ViewsOutOfRange(i32),
    #[error("the note is longer than 280 characters")]
    NoteTooLong,
    #[error("no day follows {0}")]
    DateOutOfRange(NaiveDate),
}

/// Why a version was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SetRatesError {
    #[error(transparent)]
    Invalid(#[from] RatesError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// floor(krw × rate₁ × rate₂ × …) in whole PMP; `None` past `i64`.
pub fn pmp_for_krw(krw: Krw, rates: &[Decimal]) -> Option<Pmp> {
    let units = scaled_product(krw, rates, U256::from(1u8))?;
    i64::try_from(units).ok().map(Pmp::new)
}

/// floor(krw × rate₁ × rate₂ × … × 10¹⁸) in whole wei (the PMC amount).
pub fn wei_for_krw(krw: Krw, rates: &[Decimal]) -> Option<Wei> {
    scaled_product(krw, rates, U256::from(10u8).pow(U256::from(18u8))).map(Wei::from_u256)
}

/// floor(krw × Π rates × unit), exact: the decimals' mantissas multiply in 256-bit integers and
/// one division by 10^(Σ scales) rounds down. `None` for a negative input or an overflow.
fn scaled_product(krw: Krw, rates: &[Decimal], unit: U256) -> Option<U256> {
    let krw = u64::try_from(krw.get()).ok()?;
    let mut numerator = U256::from(krw).checked_mul(unit)?;
    let mut scale = 0u32;
    for r in rates {
        if r.is_sign_negative() {
            return None;
        }
        let r = r.normalize();
        numerator = numerator.checked_mul(U256::from(r.mantissa().unsigned_abs()))?;
        scale += r.scale();
    }
    let denominator = U256::from(10u8).checked_pow(U256::from(scale))?;
    Some(numerator / denominator)
}

/// The rates in force on `date` (the newest version effective on or before it, else the
/// defaults).
pub async fn in_force(db: impl PgExecutor<'_>, date: NaiveDate) -> sqlx::Result<Rates> {
    let row = sqlx::query!(
        r#"SELECT pmp_per_krw AS "pmp_per_krw: Decimal", store_pmc_per_krw AS "store_pmc_per_krw: Decimal",
                  funding_pmc_per_krw AS "funding_pmc_per_krw: Decimal", ad_views_per_day
           FROM relayer.investment_rates WHERE effective_from <= $1
           ORDER BY effective_from DESC, version DESC LIMIT 1"#,
        date,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map_or(Rates::DEFAULT, |r| Rates {
        pmp_per_krw: r.pmp_per_krw,
        store_pmc_per_krw: r.store_pmc_per_krw,
        funding_pmc_per_krw: r.funding_pmc_per_krw,
        ad_views_per_day: r.ad_views_per_day,
    }))
}

/// Stores a new version effective from the day after `today`, in the caller's transaction (the
/// API writes the audit entry with it).
#[tracing::instrument(skip_all, fields(%set_by), err)]
pub async fn set_version(
    db: impl PgExecutor<'_>,
    rates: &Rates,
    note: Option<String>,
    set_by: Uuid,
    today: NaiveDate,
) -> Result<RatesVersion, SetRatesError> {
    rates.validate()?;
    if note.as_ref().is_some_and(|n| n.chars().count() > 280) {
        return Err(RatesError::NoteTooLong.into());
    }
    let effective_from = today.succ_opt().ok_or(RatesError::DateOutOfRange(today))?;
    let r = sqlx::query!(
        r#"INSERT INTO relayer.investment_rates
               (pmp_per_krw, store_pmc_per_krw, funding_pmc_per_krw, ad_views_per_day, effective_from, set_by, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING version, set_at"#,
        rates.pmp_per_krw as _,
        rates.store_pmc_per_krw as _,
        rates.funding_pmc_per_krw as _,
        rates.ad_views_per_day,
        effective_from,
        set_by,
        note,
    )
    .fetch_one(db)
    .await?;
    Ok(RatesVersion {
        version: r.version,
        rates: *rates,
        effective_from,
        set_by,
        set_at: r.set_at,
        note,
    })
}

/// Every version, newest first.
pub async fn history(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<RatesVersion>> {
    let rows = sqlx::query!(
        r#"SELECT version, pmp_per_krw AS "pmp_per_krw: Decimal", store_pmc_per_krw AS "store_pmc_per_krw: Decimal",
                  funding_pmc_per_krw AS "funding_pmc_per_krw: Decimal", ad_views_per_day,
                  effective_from, set_by, set_at, note
           FROM relayer.investment_rates ORDER BY version DESC LIMIT $1"#,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RatesVersion {
            version: r.version,
            rates: Rates {
                pmp_per_krw: r.pmp_per_krw,
                store_pmc_per_krw: r.store_pmc_per_krw,
                funding_pmc_per_krw: r.funding_pmc_per_krw,
                ad_views_per_day: r.ad_views_per_day,
            },
            effective_from: r.effective_from,
            set_by: r.set_by,
            set_at: r.set_at,
            note: r.note,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn i2_a_store_payment_converts_at_rate_times_pmc_per_krw_rounded_down_to_wei() {
        // 12,345 KRW × 1 % × 0.01 PMC/KRW = 1.2345 PMC.
        assert_eq!(
            wei_for_krw(Krw::new(12_345), &[d("0.01"), d("0.01")]),
            Some(Wei::parse_pmc("1.2345").expect("pmc"))
        );
        // 1 KRW × 0.000000001 × 0.000000001 = 10⁻¹⁸ PMC = 1 wei; a third factor floors it to 0.
        assert_eq!(
            wei_for_krw(Krw::new(1), &[d("0.000000001"), d("0.000000001")]),
            Some(Wei::from_u256(U256::from(1u8)))
        );
        assert_eq!(
            wei_for_krw(Krw::new(1), &[d("0.000000001"), d("0.000000001"), d("0.5")]),
            Some(Wei::ZERO)
        );
    }

    #[test]
    fn i3_the_default_funding_rate_is_100_pmc_per_10000_krw() {
        assert_eq!(
            wei_for_krw(Krw::new(10_000), &[Rates::DEFAULT.funding_pmc_per_krw]),
            Some(Wei::from_pmc(100))
        );
    }

    #[test]
    fn i1_a_campaign_budget_is_krw_times_pmp_per_krw_rounded_down() {
        assert_eq!(
            pmp_for_krw(Krw::new(50_000), &[Rates::DEFAULT.pmp_per_krw]),
            Some(Pmp::new(50_000))
        );
        assert_eq!(
            pmp_for_krw(Krw::new(3), &[d("0.333333333")]),
            Some(Pmp::new(0))
        );
        assert_eq!(
            pmp_for_krw(Krw::new(i64::MAX), &[d("1000000")]),
            None,
            "past i64 is refused, never wrapped"
        );
        assert_eq!(pmp_for_krw(Krw::new(-1), &[Decimal::ONE]), None);
    }

    #[test]
    fn rates_out_of_range_or_too_precise_are_refused() {
        let bad = Rates {
            pmp_per_krw: Decimal::ZERO,
            ..Rates::DEFAULT
        };
        assert!(matches!(
            bad.validate(),
            Err(RatesError::OutOfRange {
                field: "pmp_per_krw",
                ..
            })
        ));
        let precise = Rates {
            store_pmc_per_krw: d("0.0000000001"),
            ..Rates::DEFAULT
        };
        assert!(matches!(
            precise.validate(),
            Err(RatesError::TooPrecise { .. })
        ));
        let views = Rates {
            ad_views_per_day: 0,
            ..Rates::DEFAULT
        };
        assert_eq!(views.validate(), Err(RatesError::ViewsOutOfRange(0)));
        assert_eq!(Rates::DEFAULT.validate(), Ok(()));
    }
}
