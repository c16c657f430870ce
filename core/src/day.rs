//! [`UtcDay`]: a UTC calendar day, the unit of the economy (daily budgets, waves, credits).
//!
//! MoneyWave numbers its days from `genesis`, a UTC midnight (the constructor refuses any other
//! timestamp): day `n` is `[genesis + n·86400, genesis + (n+1)·86400)`, and the day of a
//! timestamp is `(timestamp − genesis) / 86400`. So MoneyWave day `n` *is* the UTC day
//! `date(genesis) + n`, and [`UtcDay::from_wave_day`] / [`UtcDay::wave_day`] convert exactly.
//!
//! Encodings: `DATE` in PostgreSQL, `"YYYY-MM-DD"` in JSON and in `Display`/`FromStr`.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{
    Decode, Encode, Postgres, Type,
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef},
};

/// Seconds in a day (UTC has no leap seconds in Unix time, nor on chain).
pub const SECONDS_PER_DAY: u64 = 86_400;

/// A UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(NaiveDate);

/// A malformed day.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a day is written YYYY-MM-DD, got {0:?}")]
pub struct DayError(String);

impl UtcDay {
    /// The day of `date`.
    pub const fn new(date: NaiveDate) -> UtcDay {
        UtcDay(date)
    }

    /// The day `year-month-day`, if it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<UtcDay> {
        NaiveDate::from_ymd_opt(year, month, day).map(UtcDay)
    }

    /// The UTC day `t` falls in.
    pub fn of(t: DateTime<Utc>) -> UtcDay {
        UtcDay(t.date_naive())
    }

    /// The UTC day of a Unix timestamp (e.g. a block's), if representable.
    pub fn of_timestamp(seconds: u64) -> Option<UtcDay> {
        let s = i64::try_from(seconds).ok()?;
        DateTime::from_timestamp(s, 0).map(UtcDay::of)
    }

    /// The calendar date.
    pub const fn date(self) -> NaiveDate {
        self.0
    }

    /// Its first instant, 00:00:00 UTC.
    pub fn start(self) -> DateTime<Utc> {
        self.0.and_time(NaiveTime::MIN).and_utc()
    }

    /// The day after, if representable.
    pub fn next(self) -> Option<UtcDay> {
        self.0.succ_opt().map(UtcDay)
    }

    /// The day `n` days later, if representable.
    pub fn checked_add_days(self, n: u64) -> Option<UtcDay> {
        self.0.checked_add_days(Days::new(n)).map(UtcDay)
    }

    /// Days from `earlier` to `self` (negative when `earlier` is later).
    pub fn days_since(self, earlier: UtcDay) -> i64 {
        (self.0 - earlier.0).num_days()
    }

    /// MoneyWave day `day` of a contract whose day 0 starts at `genesis` (a UTC midnight;
    /// `None` otherwise, or when out of range).
    pub fn from_wave_day(genesis: u64, day: u64) -> Option<UtcDay> {
        if !genesis.is_multiple_of(SECONDS_PER_DAY) {
            return None;
        }
        UtcDay::of_timestamp(genesis)?.checked_add_days(day)
    }

    /// This day's MoneyWave day number, `(start − genesis) / 86400`; `None` before genesis or
    /// when `genesis` is not a UTC midnight.
    pub fn wave_day(self, genesis: u64) -> Option<u64> {
        if !genesis.is_multiple_of(SECONDS_PER_DAY) {
            return None;
        }
        let n = self.days_since(UtcDay::of_timestamp(genesis)?);
        u64::try_from(n).ok()
    }
}

impl From<NaiveDate> for UtcDay {
    fn from(d: NaiveDate) -> Self {
        UtcDay(d)
    }
}

impl From<UtcDay> for NaiveDate {
    fn from(d: UtcDay) -> Self {
        d.0
    }
}

impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for UtcDay {
    type Err = DayError;

    /// Exactly `YYYY-MM-DD` (no time, no offset).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DayError(s.to_owned());
        if s.len() != 10 {
            return Err(bad());
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(UtcDay)
            .map_err(|_| bad())
    }
}

impl Serialize for UtcDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UtcDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Type<Postgres> for UtcDay {
    fn type_info() -> PgTypeInfo {
        <NaiveDate as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for UtcDay {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <NaiveDate as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for UtcDay {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <NaiveDate as Decode<Postgres>>::decode(value).map(UtcDay)
    }
}

impl PgHasArrayType for UtcDay {
    fn array_type_info() -> PgTypeInfo {
        <NaiveDate as PgHasArrayType>::array_type_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(s: &str) -> UtcDay {
        s.parse().expect("day")
    }

    #[test]
    fn days_read_and_print_as_iso_dates_only() {
        assert_eq!(day("2026-11-01").to_string(), "2026-11-01");
        assert_eq!(
            serde_json::to_string(&day("2026-02-28")).expect("json"),
            "\"2026-02-28\""
        );
        for bad in [
            "2026-11-1",
            "2026-02-30",
            "2026-11-01T00:00:00Z",
            "01/11/2026",
            "",
        ] {
            assert!(bad.parse::<UtcDay>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<UtcDay>("\"2026-13-01\"").is_err());
    }

    #[test]
    fn m4_money_wave_day_n_is_the_utc_day_genesis_plus_n() {
        // 2026-11-01T00:00:00Z
        let genesis = 1_793_491_200;
        assert_eq!(UtcDay::of_timestamp(genesis), Some(day("2026-11-01")));
        assert_eq!(UtcDay::from_wave_day(genesis, 0), Some(day("2026-11-01")));
        assert_eq!(UtcDay::from_wave_day(genesis, 31), Some(day("2026-12-02")));
        assert_eq!(day("2026-12-02").wave_day(genesis), Some(31));
        assert_eq!(day("2026-10-31").wave_day(genesis), None, "before genesis");
        assert_eq!(
            UtcDay::from_wave_day(genesis + 1, 0),
            None,
            "not a midnight"
        );
        // The contract's own formula agrees for every second of a day.
        let ts = genesis + 31 * SECONDS_PER_DAY + 86_399;
        assert_eq!((ts - genesis) / SECONDS_PER_DAY, 31);
        assert_eq!(UtcDay::of_timestamp(ts), Some(day("2026-12-02")));
    }

    #[test]
    fn a_day_starts_at_utc_midnight() {
        let d = day("2026-11-01");
        assert_eq!(d.start().timestamp(), 1_793_491_200);
        assert_eq!(UtcDay::of(d.start()), d);
        assert_eq!(d.next(), Some(day("2026-11-02")));
        assert_eq!(day("2026-11-02").days_since(d), 1);
    }

    proptest! {
        #[test]
        fn days_round_trip_through_text_json_and_wave_numbers(n in 0u64..200_000) {
            let genesis = 0; // 1970-01-01, a midnight
            let d = UtcDay::from_wave_day(genesis, n).expect("in range");
            prop_assert_eq!(d.to_string().parse::<UtcDay>().expect("parse"), d);
            let json = serde_json::to_string(&d).expect("json");
            prop_assert_eq!(serde_json::from_str::<UtcDay>(&json).expect("json"), d);
            prop_assert_eq!(d.wave_day(genesis), Some(n));
            prop_assert_eq!(NaiveDate::from(d), d.date());
        }
    }
}

#[cfg(test)]
mod db_tests {
    use super::*;
    use sqlx::PgPool;

    #[sqlx::test(migrations = false)]
    async fn a_day_is_stored_as_a_postgres_date(pool: PgPool) {
        let d = UtcDay::from_ymd(2026, 11, 1).expect("day");
        let (text, back): (String, UtcDay) = sqlx::query_as("SELECT $1::date::text, $1::date")
            .bind(d)
            .fetch_one(&pool)
            .await
            .expect("round trip");
        assert_eq!((text.as_str(), back), ("2026-11-01", d));
    }
}
