//! How money looks in a response body. Display types exist only here and in response bodies;
//! domains carry `Pmp` and `Wei`. Addresses need no display type: a response field holds a
//! `posmul_core::WalletAddress`, which serializes EIP-55 checksummed.

use posmul_core::money::Wei;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
