//! The types money depends on. Convert once, at the edges; never carry raw integers around.
//!
//! - [`Pmp`]: whole PosMul points, a signed 64-bit integer (`BIGINT`), so postings can carry sign.
//! - [`Krw`]: whole Korean won, the same shape as `Pmp` (E4).
//! - [`Wei`]: a PMC amount in wei (18 decimals), a `U256` as on chain, stored as `NUMERIC(78,0)`.
//!   It converts losslessly through `BigDecimal`; a negative or fractional or over-large value read
//!   from the database is a decode error, never a silent truncation.
//!
//! Both keep their integer private: build one with [`Pmp::new`] / [`Wei::from_u256`], read it
//! with [`Pmp::get`] / [`Wei::as_u256`], and add, subtract or multiply only with the checked
//! operations, which say `None` on overflow (or, for `Wei`, below zero) instead of wrapping (E1).

use std::{fmt, str::FromStr};

use alloy::primitives::U256;
use bigdecimal::BigDecimal;
use serde::{Deserialize, Serialize};
use sqlx::{
    Decode, Encode, Postgres, Type, encode::IsNull, error::BoxDynError, postgres::PgArgumentBuffer,
    postgres::PgTypeInfo, postgres::PgValueRef,
};

/// A whole-unit amount: a signed 64-bit integer (`BIGINT`), so postings can carry sign, with
/// checked arithmetic only. [`Pmp`] and [`Krw`] are the same shape in two currencies; the macro
/// keeps them one definition, and their separate types keep them from ever mixing.
macro_rules! whole_units {
    ($(#[$doc:meta])* $name:ident, $unit:literal) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            Default,
            Serialize,
            Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const ZERO: $name = $name(0);

            /// The amount in whole units (negative for the debit side of a posting).
            pub const fn new(units: i64) -> $name {
                $name(units)
            }

            /// The number of whole units.
            pub const fn get(self) -> i64 {
                self.0
            }

            pub const fn checked_add(self, rhs: $name) -> Option<$name> {
                match self.0.checked_add(rhs.0) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            pub const fn checked_sub(self, rhs: $name) -> Option<$name> {
                match self.0.checked_sub(rhs.0) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            /// `self × factor` (e.g. a stake times a multiplier in whole units).
            pub const fn checked_mul(self, factor: i64) -> Option<$name> {
                match self.0.checked_mul(factor) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            /// The other side of a posting.
            pub const fn checked_neg(self) -> Option<$name> {
                match self.0.checked_neg() {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }

            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $unit)
            }
        }

        impl From<$name> for i64 {
            fn from(a: $name) -> Self {
                a.0
            }
        }
    };
}

whole_units!(
    /// Whole PosMul points (PMP). Balances never go negative (E1); postings may.
    Pmp,
    "PMP"
);

whole_units!(
    /// Whole Korean won (KRW), the same shape as [`Pmp`]: balances never go negative (E1, E4),
    /// postings may. There is no fractional won.
    Krw,
    "KRW"
);

/// A PMC amount in wei. 1 PMC = 10^18 wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Wei(U256);

/// 10^18: wei per PMC.
pub const WEI_PER_PMC: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

/// A malformed wei amount.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeiError {
    #[error("a wei amount is a non-negative whole number below 2^256, got {0:?}")]
    Malformed(String),
    #[error("a PMC amount has at most 18 decimals, got {0:?}")]
    TooPrecise(String),
}

impl Wei {
    pub const ZERO: Wei = Wei(U256::ZERO);

    /// `wei` wei, as on chain.
    pub const fn from_u256(wei: U256) -> Wei {
        Wei(wei)
    }

    /// The amount in wei, for contract calls and Merkle leaves.
    pub const fn as_u256(self) -> U256 {
        self.0
    }

    /// `n` whole PMC.
    pub fn from_pmc(n: u64) -> Wei {
        // n < 2^64 and 10^18 < 2^60: the product fits in 124 bits.
        Wei(U256::from(n) * WEI_PER_PMC)
    }

    pub fn checked_add(self, rhs: Wei) -> Option<Wei> {
        self.0.checked_add(rhs.0).map(Wei)
    }

    /// `None` below zero.
    pub fn checked_sub(self, rhs: Wei) -> Option<Wei> {
        self.0.checked_sub(rhs.0).map(Wei)
    }

    /// `self × factor`.
    pub fn checked_mul(self, factor: U256) -> Option<Wei> {
        self.0.checked_mul(factor).map(Wei)
    }

    /// `self − rhs`, or zero when `rhs` is larger (e.g. what is still owed).
    pub fn saturating_sub(self, rhs: Wei) -> Wei {
        Wei(self.0.saturating_sub(rhs.0))
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The amount as a PMC decimal string with up to 18 fractional digits, trailing zeros cut
    /// ("1.5", "0.000000000000000001", "12").
    pub fn to_pmc_string(&self) -> String {
        let whole = self.0 / WEI_PER_PMC;
        let frac = self.0 % WEI_PER_PMC;
        if frac.is_zero() {
            return whole.to_string();
        }
        let digits = format!("{:0>18}", frac.to_string());
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }

    /// Parses a PMC decimal ("1.5") into wei, refusing more than 18 decimals.
    pub fn parse_pmc(s: &str) -> Result<Wei, WeiError> {
        let bad = || WeiError::Malformed(s.to_owned());
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if frac.len() > 18 {
            return Err(WeiError::TooPrecise(s.to_owned()));
        }
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !all_digits(frac) {
            return Err(bad());
        }
        let whole = if whole.is_empty() {
            U256::ZERO
        } else {
            U256::from_str_radix(whole, 10).map_err(|_| bad())?
        };
        let frac = if frac.is_empty() {
            U256::ZERO
        } else {
            U256::from_str_radix(&format!("{frac:0<18}"), 10).map_err(|_| bad())?
        };
        whole
            .checked_mul(WEI_PER_PMC)
            .and_then(|w| w.checked_add(frac))
            .map(Wei)
            .ok_or_else(bad)
    }

    fn to_bigdecimal(self) -> BigDecimal {
        // A U256's decimal form always parses as a BigDecimal.
        BigDecimal::from_str(&self.0.to_string()).unwrap_or_default()
    }

    fn from_bigdecimal(d: &BigDecimal) -> Result<Wei, WeiError> {
        let text = d.normalized().to_plain_string();
        Wei::from_str(&text)
    }
}

impl FromStr for Wei {
    type Err = WeiError;

    /// A decimal wei string ("1000000000000000000").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WeiError::Malformed(s.to_owned()));
        }
        U256::from_str_radix(s, 10)
            .map(Wei)
            .map_err(|_| WeiError::Malformed(s.to_owned()))
    }
}

impl fmt::Display for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<U256> for Wei {
    fn from(v: U256) -> Self {
        Wei(v)
    }
}

impl From<Wei> for U256 {
    fn from(v: Wei) -> Self {
        v.0
    }
}

/// JSON carries wei as a decimal string: JavaScript numbers lose precision past 2^53.
impl Serialize for Wei {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Wei {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Wei::from_str(&s).map_err(serde::de::Error::custom)
    }
}

impl Type<Postgres> for Wei {
    fn type_info() -> PgTypeInfo {
        <BigDecimal as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for Wei {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <BigDecimal as Encode<Postgres>>::encode(self.to_bigdecimal(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Wei {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let d = <BigDecimal as Decode<Postgres>>::decode(value)?;
        Ok(Wei::from_bigdecimal(&d)?)
    }
}

impl sqlx::postgres::PgHasArrayType for Wei {
    fn array_type_info() -> PgTypeInfo {
        <BigDecimal as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pmc_strings_round_trip_exactly() {
        assert_eq!(
            Wei::parse_pmc("1.5").unwrap().to_string(),
            "1500000000000000000"
        );
        assert_eq!(
            Wei::parse_pmc("0.000000000000000001").unwrap(),
            Wei(U256::from(1))
        );
        assert_eq!(Wei::from_pmc(12).to_pmc_string(), "12");
        assert_eq!(Wei(U256::from(1)).to_pmc_string(), "0.000000000000000001");
    }

    #[test]
    fn e1_checked_arithmetic_refuses_overflow_and_negative_wei() {
        assert_eq!(Pmp::new(2).checked_add(Pmp::new(3)), Some(Pmp::new(5)));
        assert_eq!(Pmp::new(i64::MAX).checked_add(Pmp::new(1)), None);
        assert_eq!(Pmp::new(i64::MIN).checked_sub(Pmp::new(1)), None);
        assert_eq!(Pmp::new(-4).checked_mul(3), Some(Pmp::new(-12)));
        assert_eq!(Pmp::new(i64::MAX).checked_mul(2), None);
        assert_eq!(Pmp::new(7).checked_neg().map(Pmp::get), Some(-7));
        assert_eq!(Wei::from_pmc(1).checked_sub(Wei::from_pmc(2)), None);
        assert_eq!(Wei::from_pmc(1).saturating_sub(Wei::from_pmc(2)), Wei::ZERO);
        assert_eq!(
            Wei::from_u256(U256::MAX).checked_add(Wei::from_u256(U256::from(1))),
            None
        );
        assert_eq!(Wei::from_u256(U256::MAX).checked_mul(U256::from(2)), None);
        assert_eq!(
            Wei::from_pmc(3).checked_mul(U256::from(2)),
            Some(Wei::from_pmc(6))
        );
        assert_eq!(Wei::from_pmc(3).as_u256(), U256::from(3) * WEI_PER_PMC);
    }

    #[test]
    fn pmp_is_a_bare_json_number() {
        assert_eq!(serde_json::to_string(&Pmp::new(-12)).expect("json"), "-12");
        assert_eq!(
            serde_json::from_str::<Pmp>("40").expect("json"),
            Pmp::new(40)
        );
    }

    #[test]
    fn more_than_18_decimals_is_refused_not_rounded() {
        assert!(matches!(
            Wei::parse_pmc("0.0000000000000000001"),
            Err(WeiError::TooPrecise(_))
        ));
        assert!(Wei::parse_pmc("-1").is_err());
        assert!(Wei::parse_pmc("1e3").is_err());
        assert!(Wei::from_str("").is_err());
    }

    proptest! {
        #[test]
        fn wei_survives_bigdecimal(limbs in any::<[u64; 4]>()) {
            let w = Wei(U256::from_limbs(limbs));
            prop_assert_eq!(Wei::from_bigdecimal(&w.to_bigdecimal()).unwrap(), w);
            prop_assert_eq!(Wei::parse_pmc(&w.to_pmc_string()).unwrap(), w);
        }
    }
}
