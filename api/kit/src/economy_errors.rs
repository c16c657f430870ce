//! The one mapping of the money book's errors to problems: every domain that moves PMP or
//! issues PMC answers a refused movement the same way.

use posmul_economy::{credits::CreditError, ledger::LedgerError, wave::WaveError};

use crate::error::{ApiError, kind};

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientFunds {
                balance, requested, ..
            } => ApiError::unprocessable(
                kind::INSUFFICIENT_PMP,
                format!(
                    "the balance is {} PMP; this needs {} PMP",
                    balance.get(),
                    requested.get()
                ),
            ),
            LedgerError::InsufficientKrw {
                balance, requested, ..
            } => ApiError::unprocessable(
                kind::INSUFFICIENT_KRW,
                format!(
                    "the account holds {} KRW; this needs {} KRW",
                    balance.get(),
                    requested.get()
                ),
            ),
            LedgerError::NonPositiveKrw(_) => {
                ApiError::invalid_field("amount", "send a whole number of won, at least 1")
            }
            LedgerError::NonPositiveAmount(_) => {
                ApiError::invalid_field("amount", "send a whole number of PMP, at least 1")
            }
            LedgerError::SameAccount => {
                ApiError::unprocessable(kind::SAME_ACCOUNT, "you cannot send PMP to yourself")
            }
            LedgerError::Overflow => {
                ApiError::invalid_field("amount", "the amount is out of range")
            }
            LedgerError::MemoTooLong => {
                ApiError::invalid_field("memo", "use at most 280 characters")
            }
            LedgerError::IdempotencyConflict { .. } => ApiError::conflict(
                kind::IDEMPOTENCY_KEY_REUSED,
                "this movement's key already names a different movement",
            ),
            LedgerError::NoSuchAccount(_) => ApiError::NotFound("PMP account".into()),
            LedgerError::Database(e) => ApiError::from(e),
            e @ (LedgerError::Unbalanced(_) | LedgerError::WrongCurrency { .. }) => {
                ApiError::internal(e)
            }
        }
    }
}

impl From<CreditError> for ApiError {
    fn from(e: CreditError) -> Self {
        match e {
            CreditError::Database(e) => ApiError::from(e),
            CreditError::IdempotencyConflict { .. } => ApiError::conflict(
                kind::IDEMPOTENCY_KEY_REUSED,
                "this credit's key already names a different credit",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<WaveError> for ApiError {
    fn from(e: WaveError) -> Self {
        match e {
            WaveError::Db(e) => ApiError::from(e),
            other => ApiError::internal(other),
        }
    }
}
