//! The refusals of the wallet domain, and the one place they become problems.
//!
//! Handlers return [`WalletError`] for every refusal this domain makes; [`From<WalletError>`]
//! for the kit's [`ApiError`] is the only mapping to problem kinds and statuses. The money
//! book's own refusals (`LedgerError`, `CreditError`, `WaveError`) are mapped once, by the kit.

pub use posmul_api_kit::error::{ApiError, ApiJson, ApiResult, FieldError, Problem};
use posmul_core::money::WeiError;
use posmul_economy::{config::EconomyError, rates::RatesError};

/// The problem kinds only this domain emits (the kit's are in `posmul_api_kit::error::kind`).
pub mod kind {
    /// No Money Wave is on chain yet (M5).
    pub const NO_WAVE_YET: &str = "no-wave-yet";
    /// The account has no linked wallet to claim to (M5).
    pub const NO_WALLET_LINKED: &str = "no-wallet-linked";
    /// No linked wallet has anything left to claim in the published waves (M5).
    pub const NOTHING_TO_CLAIM: &str = "nothing-to-claim";
    /// An economy configuration the rules refuse (M1).
    pub const ECONOMY_CONFIG_INVALID: &str = "economy-config-invalid";
    /// The day has no allocation on chain: not published yet, revoked, or empty (M3, M6).
    pub const WAVE_NOT_PUBLISHED: &str = "wave-not-published";

    pub const ALL: &[&str] = &[
        NO_WAVE_YET,
        WAVE_NOT_PUBLISHED,
        NO_WALLET_LINKED,
        NOTHING_TO_CLAIM,
        ECONOMY_CONFIG_INVALID,
    ];
}

/// Why the wallet domain refused a request.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// M5: no wave has a root on chain yet.
    #[error(
        "no Money Wave has been published yet: PMC credits become claimable after the first daily wave"
    )]
    NoWaveYet,
    /// M5: PMC is paid to a linked wallet, and there is none.
    #[error(
        "link a wallet (POST /v1/me/wallets/link) to receive PMC: credits join the first wave after the link"
    )]
    NoWalletLinked,
    /// M5: no linked wallet has a leaf in the current wave.
    #[error(
        "none of your wallets has PMC in the published Money Waves yet: credits join the wave of the day after they are earned"
    )]
    NotInAnyWave,
    /// M5: every leaf of the linked wallets is claimed already.
    #[error(
        "everything your wallets are entitled to in the published Money Waves is claimed already"
    )]
    AllClaimed,
    /// M3, M6: the day has no allocation on chain.
    #[error(
        "this day has no published Money Wave allocation: not published yet, revoked, or allocating nothing"
    )]
    WaveNotPublished,
    /// A path that is not a day number.
    #[error("use a MoneyWave day number (0 = the genesis day)")]
    InvalidDay,
    /// A path or field that is not a 20-byte address.
    #[error("use a 0x-prefixed 20-byte hex address")]
    InvalidAddress,
    /// M1: the annual EBIT is not a PMC amount.
    #[error("{0}")]
    InvalidEbit(#[source] WeiError),
    /// M1: a rate is not a decimal.
    #[error("a decimal such as 0.495")]
    InvalidRate { field: &'static str },
    /// M1: the configuration breaks a rule (rates out of range, a long note, …).
    #[error(transparent)]
    EconomyConfig(#[from] EconomyError),
    /// I1-I3: investment rates that break a rule (out of range, too precise, a long note).
    #[error(transparent)]
    Rates(#[from] RatesError),
}

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> Self {
        match e {
            WalletError::NoWaveYet => ApiError::absent(kind::NO_WAVE_YET, e.to_string()),
            WalletError::NoWalletLinked => ApiError::absent(kind::NO_WALLET_LINKED, e.to_string()),
            WalletError::NotInAnyWave | WalletError::AllClaimed => {
                ApiError::absent(kind::NOTHING_TO_CLAIM, e.to_string())
            }
            WalletError::WaveNotPublished => {
                ApiError::absent(kind::WAVE_NOT_PUBLISHED, e.to_string())
            }
            WalletError::InvalidDay => ApiError::invalid_field("day", e.to_string()),
            WalletError::InvalidAddress => ApiError::invalid_field("address", e.to_string()),
            WalletError::InvalidEbit(_) => {
                ApiError::invalid_field("annual_ebit_pmc", e.to_string())
            }
            WalletError::InvalidRate { field } => ApiError::invalid_field(field, e.to_string()),
            WalletError::EconomyConfig(_) | WalletError::Rates(_) => {
                ApiError::unprocessable(kind::ECONOMY_CONFIG_INVALID, e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use posmul_api_kit::error::kind as kit;

    use super::*;

    #[test]
    fn m5_every_refusal_maps_to_its_status_and_kind() {
        let cases: Vec<(WalletError, StatusCode, &str)> = vec![
            (
                WalletError::NoWaveYet,
                StatusCode::NOT_FOUND,
                kind::NO_WAVE_YET,
            ),
            (
                WalletError::NoWalletLinked,
                StatusCode::NOT_FOUND,
                kind::NO_WALLET_LINKED,
            ),
            (
                WalletError::NotInAnyWave,
                StatusCode::NOT_FOUND,
                kind::NOTHING_TO_CLAIM,
            ),
            (
                WalletError::AllClaimed,
                StatusCode::NOT_FOUND,
                kind::NOTHING_TO_CLAIM,
            ),
            (
                WalletError::WaveNotPublished,
                StatusCode::NOT_FOUND,
                kind::WAVE_NOT_PUBLISHED,
            ),
            (
                WalletError::InvalidDay,
                StatusCode::UNPROCESSABLE_ENTITY,
                kit::VALIDATION_FAILED,
            ),
            (
                WalletError::InvalidAddress,
                StatusCode::UNPROCESSABLE_ENTITY,
                kit::VALIDATION_FAILED,
            ),
            (
                WalletError::InvalidRate { field: "tax_rate" },
                StatusCode::UNPROCESSABLE_ENTITY,
                kit::VALIDATION_FAILED,
            ),
            (
                WalletError::EconomyConfig(EconomyError::NoteTooLong),
                StatusCode::UNPROCESSABLE_ENTITY,
                kind::ECONOMY_CONFIG_INVALID,
            ),
        ];
        for (e, status, kind) in cases {
            let name = format!("{e:?}");
            let api = ApiError::from(e);
            assert_eq!((api.status(), api.kind()), (status, kind), "{name}");
        }
    }

    #[test]
    fn domain_kinds_do_not_reuse_the_kits() {
        for k in kind::ALL {
            assert!(!kit::ALL.contains(k), "{k}");
        }
    }
}
