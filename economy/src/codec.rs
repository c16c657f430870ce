//! On-chain values as the database stores them: addresses as 20-byte and words (roots, hashes)
//! as 32-byte `BYTEA`. Decoding checks the length, so a corrupt row is an error, not a wrong
//! value.

use alloy::primitives::{Address, B256};

/// A stored value of the wrong length.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a stored {what} is {expected} bytes, found {found}")]
pub struct CodecError {
    pub what: &'static str,
    pub expected: usize,
    pub found: usize,
}

/// A 20-byte address column.
pub fn address(bytes: &[u8]) -> Result<Address, CodecError> {
    <[u8; 20]>::try_from(bytes)
        .map(Address::from)
        .map_err(|_| CodecError {
            what: "address",
            expected: 20,
            found: bytes.len(),
        })
}

/// A 32-byte word column (a root, a hash).
pub fn word(bytes: &[u8]) -> Result<B256, CodecError> {
    <[u8; 32]>::try_from(bytes)
        .map(B256::from)
        .map_err(|_| CodecError {
            what: "32-byte word",
            expected: 32,
            found: bytes.len(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked() {
        assert_eq!(address(&[7u8; 20]).map(|a| a.0.0), Ok([7u8; 20]));
        assert_eq!(address(&[7u8; 19]).map_err(|e| e.found), Err(19));
        assert_eq!(word(&[1u8; 32]).map(|w| w.0), Ok([1u8; 32]));
        assert_eq!(word(&[1u8; 33]).map_err(|e| e.found), Err(33));
    }
}
