//! [`WalletAddress`]: an Ethereum account address, parsed once at the edge.
//!
//! - PostgreSQL: `BYTEA` of exactly 20 bytes (any other length is a decode error);
//! - JSON, `Display`: EIP-55 checksummed (`0x5FbDB2315678afecb367f032d93F642f64180aa3`);
//! - parsing (`FromStr`, JSON): `0x` and 40 hex digits in any case. A mixed-case string is not
//!   checked against its checksum: wallets and users send lower-case as often as not.

use std::{fmt, str::FromStr};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use sqlx::{
    Decode, Encode, Postgres, Type,
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef},
};

/// An account address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WalletAddress(Address);

/// Not an address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("an address is 0x followed by 40 hex digits, got {0:?}")]
    Malformed(String),
    #[error("an address is 20 bytes, got {0}")]
    Length(usize),
}

impl WalletAddress {
    /// The zero address.
    pub const ZERO: WalletAddress = WalletAddress(Address::ZERO);

    /// Wraps an alloy address.
    pub const fn new(address: Address) -> WalletAddress {
        WalletAddress(address)
    }

    /// From exactly 20 bytes (a `BYTEA` column, an event topic's tail).
    pub fn from_slice(bytes: &[u8]) -> Result<WalletAddress, AddressError> {
        Address::try_from(bytes)
            .map(WalletAddress)
            .map_err(|_| AddressError::Length(bytes.len()))
    }

    /// The alloy address (for contract calls and Merkle leaves).
    pub const fn get(self) -> Address {
        self.0
    }

    /// The 20 bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The EIP-55 checksummed form.
    pub fn checksummed(&self) -> String {
        self.0.to_checksum(None)
    }
}

impl From<Address> for WalletAddress {
    fn from(a: Address) -> Self {
        WalletAddress(a)
    }
}

impl From<WalletAddress> for Address {
    fn from(a: WalletAddress) -> Self {
        a.0
    }
}

impl FromStr for WalletAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AddressError::Malformed(s.to_owned());
        let hex = s.strip_prefix("0x").ok_or_else(bad)?;
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut bytes = [0u8; 20];
        for (i, pair) in hex.as_bytes().chunks_exact(2).enumerate() {
            let digit = |b: u8| (b as char).to_digit(16).ok_or_else(bad);
            // Both digits are hex (checked above), so each fits in a nibble.
            bytes[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(WalletAddress(Address::from(bytes)))
    }
}

impl fmt::Display for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.checksummed())
    }
}

impl fmt::Debug for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletAddress({})", self.checksummed())
    }
}

impl Serialize for WalletAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WalletAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Type<Postgres> for WalletAddress {
    fn type_info() -> PgTypeInfo {
        <Vec<u8> as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for WalletAddress {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&[u8] as Encode<Postgres>>::encode(self.0.as_slice(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for WalletAddress {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let bytes = <&[u8] as Decode<Postgres>>::decode(value)?;
        Ok(WalletAddress::from_slice(bytes)?)
    }
}

impl PgHasArrayType for WalletAddress {
    fn array_type_info() -> PgTypeInfo {
        <Vec<u8> as PgHasArrayType>::array_type_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHECKSUMMED: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

    #[test]
    fn addresses_parse_in_any_case_and_show_checksummed() {
        let lower: WalletAddress = CHECKSUMMED.to_lowercase().parse().expect("lower");
        let upper: WalletAddress = format!("0x{}", &CHECKSUMMED[2..].to_uppercase())
            .parse()
            .expect("upper");
        assert_eq!(lower, upper);
        assert_eq!(lower.to_string(), CHECKSUMMED);
        assert_eq!(
            serde_json::to_string(&lower).expect("json"),
            format!("\"{CHECKSUMMED}\"")
        );
    }

    #[test]
    fn malformed_addresses_are_refused_with_a_clear_error() {
        for bad in [
            "5FbDB2315678afecb367f032d93F642f64180aa3",
            "0x5FbDB2315678afecb367f032d93F642f64180aa",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3a",
            "0xZZbDB2315678afecb367f032d93F642f64180aa3",
            "",
        ] {
            let err = bad.parse::<WalletAddress>().expect_err(bad);
            assert!(err.to_string().contains("40 hex digits"), "{err}");
        }
        let err = serde_json::from_str::<WalletAddress>("\"0x12\"").expect_err("short");
        assert!(err.to_string().contains("40 hex digits"), "{err}");
        assert_eq!(
            WalletAddress::from_slice(&[1; 19]),
            Err(AddressError::Length(19))
        );
    }

    proptest! {
        #[test]
        fn addresses_round_trip_through_text_json_and_bytes(bytes in any::<[u8; 20]>()) {
            let a = WalletAddress::new(Address::from(bytes));
            prop_assert_eq!(a.to_string().parse::<WalletAddress>().expect("checksummed"), a);
            prop_assert_eq!(a.to_string().to_lowercase().parse::<WalletAddress>().expect("lower"), a);
            let json = serde_json::to_string(&a).expect("json");
            prop_assert_eq!(serde_json::from_str::<WalletAddress>(&json).expect("json"), a);
            prop_assert_eq!(WalletAddress::from_slice(a.as_slice()).expect("20 bytes"), a);
            prop_assert_eq!(a.to_string(), a.get().to_checksum(None));
        }
    }
}

#[cfg(test)]
mod db_tests {
    use super::*;
    use sqlx::PgPool;

    #[sqlx::test(migrations = false)]
    async fn an_address_is_20_bytes_of_bytea_and_other_lengths_do_not_decode(pool: PgPool) {
        let a: WalletAddress = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .expect("address");
        let (len, back): (i32, WalletAddress) =
            sqlx::query_as("SELECT length($1::bytea), $1::bytea")
                .bind(a)
                .fetch_one(&pool)
                .await
                .expect("round trip");
        assert_eq!((len, back), (20, a));
        let short = sqlx::query_scalar::<_, WalletAddress>("SELECT '\\x0102'::bytea")
            .fetch_one(&pool)
            .await
            .expect_err("2 bytes are not an address");
        assert!(short.to_string().contains("20 bytes, got 2"), "{short}");
    }
}
