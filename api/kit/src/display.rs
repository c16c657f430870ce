//! How money and addresses look in a response body. Display types exist only here and in
//! response bodies; domains carry `Pmp`, `Wei` and `Address`.

use alloy::primitives::Address;
use posmul_core::money::Wei;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

/// A PMC amount: exact wei and its PMC decimal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PmcAmount {
    /// Wei (10^-18 PMC), a decimal integer string.
    #[schema(example = "1500000000000000000")]
    pub wei: String,
    /// The same amount in PMC, up to 18 decimals, trailing zeros cut.
    #[schema(example = "1.5")]
    pub pmc: String,
}

impl From<Wei> for PmcAmount {
    fn from(w: Wei) -> Self {
        PmcAmount {
            wei: w.to_string(),
            pmc: w.to_pmc_string(),
        }
    }
}

/// An address as every response shows it: EIP-55 checksummed (`0xf39Fd6e5…`).
pub fn address(address: &Address) -> String {
    address.to_checksum(None)
}

/// An address stored as 0x-hex text (`auth.wallets.address`, lower-case), as responses show
/// it. A stored value that is not an address is our bug, so an internal error.
pub fn stored_address(text: &str) -> ApiResult<String> {
    text.parse::<Address>()
        .map(|a| address(&a))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored address {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shown_checksummed_whatever_case_they_are_stored_in() {
        let shown = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
        assert_eq!(stored_address(&shown.to_lowercase()).unwrap(), shown);
        assert_eq!(stored_address(shown).unwrap(), shown);
        assert!(stored_address("0x1234").is_err());
    }
}
