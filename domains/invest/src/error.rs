//! Every refusal of the invest domain, and its one mapping to the API's problems.

use posmul_api_kit::ApiError;
use posmul_core::money::Krw;
use posmul_economy::{credits::CreditError, ledger::LedgerError};

use crate::{
    ads::{CampaignStatus, ViewState},
    payments::{PaymentState, ProviderError, ProviderKind, WebhookError},
    problem,
};

pub type Result<T, E = InvestError> = std::result::Result<T, E>;

/// Every way the invest domain refuses a request or fails.
#[derive(Debug, thiserror::Error)]
pub enum InvestError {
    #[error("payment not found")]
    PaymentNotFound,
    #[error("the {} payment provider is not enabled here", .0.as_str())]
    ProviderNotEnabled(ProviderKind),
    #[error("no payment provider is called {0:?}")]
    UnknownProvider(String),
    #[error("a payment is between 1 and {max} won")]
    AmountOutOfRange { max: i64 },
    #[error("a payment's description has at most 200 characters")]
    DescriptionTooLong,
    #[error("payments go to a merchant; this account is not one")]
    TargetNotMerchant,
    #[error("the amount confirmed ({confirmed}) is not the payment's ({expected})")]
    AmountMismatch { expected: Krw, confirmed: Krw },
    #[error("a payment is refunded only once paid; it is {}", .0.as_str())]
    NotRefundable(PaymentState),
    #[error("a payment is confirmed only while created; it is {}", .0.as_str())]
    NotConfirmable(PaymentState),
    #[error("the refund would exceed what is left of the payment ({left})")]
    RefundExceedsPayment { left: Krw },
    #[error(
        "the payment's money is no longer held here ({held} left where it went): nothing to refund from"
    )]
    RefundNotHeld { held: Krw },
    #[error("the payment provider refused: {0}")]
    ProviderRefused(String),
    #[error("the payment provider is unavailable")]
    ProviderUnavailable(#[source] ProviderError),
    #[error("{0}: {1}")]
    InvalidField(&'static str, &'static str),
    #[error("store not found")]
    StoreNotFound,
    #[error("a latitude is within [-90, 90] and a longitude within [-180, 180]")]
    BadCoordinates,
    #[error("a search radius is above 0 and at most {max_m} metres")]
    RadiusOutOfRange { max_m: f64 },
    #[error("the store is not verified yet")]
    StoreNotVerified,
    #[error("the store is already verified")]
    StoreAlreadyVerified,
    #[error("only the store's merchant may change it")]
    NotStoreOwner,
    #[error("you have already reviewed this store")]
    DuplicateReview,
    #[error("a store is reviewed only by a citizen who paid there")]
    ReviewWithoutPayment,
    #[error("funding project not found")]
    ProjectNotFound,
    #[error("contribution not found")]
    ContributionNotFound,
    #[error("the project takes no contributions: {0}")]
    ProjectNotOpen(&'static str),
    #[error("only a proposed project before its deadline can be approved: {0}")]
    ProjectNotApprovable(&'static str),
    #[error("a contribution is a multiple of 1000 won between {min} and {max}")]
    ContributionAmount { min: i64, max: i64 },
    #[error("only a held contribution can be cancelled, before the deadline: {0}")]
    NotCancellable(&'static str),
    #[error("only the project's creator may post its updates")]
    NotProjectCreator,
    #[error("the final results report comes once, after the settlement: {0}")]
    FinalReportNotAllowed(&'static str),
    #[error("campaign not found")]
    CampaignNotFound,
    #[error("only the campaign's advertiser may do this")]
    NotCampaignOwner,
    #[error("the campaign is {}: no view may start", .0.as_str())]
    CampaignNotRunning(CampaignStatus),
    #[error("the campaign's budget cannot cover one more view")]
    BudgetExhausted,
    #[error("you have completed this campaign's {0} rewarded views for today")]
    CampaignDailyLimit(i32),
    #[error("you have completed your {0} rewarded ad views for today")]
    DailyViewLimit(i32),
    #[error("you already have a view in progress{}", .0.map(|id| format!(" ({id})")).unwrap_or_default())]
    ViewAlreadyActive(Option<uuid::Uuid>),
    #[error("ad view not found")]
    ViewNotFound,
    #[error("the view is {}", .0.as_str())]
    ViewNotActive(ViewState),
    #[error("the view expired: no heartbeat for too long")]
    ViewExpired,
    #[error("ad budgets are not refunded once paid (campaign {0})")]
    CampaignFundingNotRefundable(uuid::Uuid),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Credit(#[from] CreditError),
    #[error("a conversion from won overflowed")]
    ConversionOverflow,
    #[error("invest database error")]
    Database(#[from] sqlx::Error),
}

impl From<ProviderError> for InvestError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Refused { code, message } => {
                InvestError::ProviderRefused(format!("{code}: {message}"))
            }
            other => InvestError::ProviderUnavailable(other),
        }
    }
}

impl From<InvestError> for ApiError {
    fn from(e: InvestError) -> Self {
        use InvestError as E;
        let detail = e.to_string();
        match e {
            E::PaymentNotFound => ApiError::NotFound("payment".into()),
            E::UnknownProvider(_) => ApiError::NotFound("payment provider".into()),
            E::ProviderNotEnabled(_) => {
                ApiError::unprocessable(problem::PAYMENT_PROVIDER_NOT_ENABLED, detail)
            }
            E::AmountOutOfRange { .. } => ApiError::invalid_field("amount", detail),
            E::DescriptionTooLong => ApiError::invalid_field("description", detail),
            E::TargetNotMerchant => {
                ApiError::unprocessable(problem::PAYMENT_TARGET_NOT_MERCHANT, detail)
            }
            E::AmountMismatch { .. } => {
                ApiError::unprocessable(problem::PAYMENT_AMOUNT_MISMATCH, detail)
            }
            E::NotRefundable(_) => ApiError::conflict(problem::PAYMENT_NOT_REFUNDABLE, detail),
            E::NotConfirmable(_) => ApiError::conflict(problem::PAYMENT_NOT_CONFIRMABLE, detail),
            E::RefundExceedsPayment { .. } => {
                ApiError::unprocessable(problem::REFUND_EXCEEDS_PAYMENT, detail)
            }
            E::RefundNotHeld { .. } => ApiError::conflict(problem::REFUND_NOT_HELD, detail),
            E::ProviderRefused(_) => {
                ApiError::unprocessable(problem::PAYMENT_PROVIDER_REFUSED, detail)
            }
            E::ProviderUnavailable(e) => ApiError::Unavailable(e.into()),
            E::InvalidField(field, why) => ApiError::invalid_field(field, why),
            E::StoreNotFound => ApiError::NotFound("store".into()),
            E::BadCoordinates => {
                ApiError::unprocessable(problem::STORE_COORDINATES_INVALID, detail)
            }
            E::RadiusOutOfRange { .. } => {
                ApiError::unprocessable(problem::STORE_RADIUS_OUT_OF_RANGE, detail)
            }
            E::StoreNotVerified => ApiError::unprocessable(problem::STORE_NOT_VERIFIED, detail),
            E::StoreAlreadyVerified => ApiError::conflict(problem::STORE_ALREADY_VERIFIED, detail),
            E::NotStoreOwner => ApiError::denied(problem::STORE_NOT_OWNER, detail),
            E::DuplicateReview => ApiError::conflict(problem::STORE_REVIEW_DUPLICATE, detail),
            E::ReviewWithoutPayment => {
                ApiError::unprocessable(problem::STORE_REVIEW_WITHOUT_PAYMENT, detail)
            }
            E::ProjectNotFound => ApiError::NotFound("funding project".into()),
            E::ContributionNotFound => ApiError::NotFound("contribution".into()),
            E::ProjectNotOpen(_) => {
                ApiError::unprocessable(problem::FUNDING_PROJECT_NOT_OPEN, detail)
            }
            E::ProjectNotApprovable(_) => {
                ApiError::conflict(problem::FUNDING_PROJECT_NOT_APPROVABLE, detail)
            }
            E::ContributionAmount { .. } => {
                ApiError::unprocessable(problem::FUNDING_AMOUNT_INVALID, detail)
            }
            E::NotCancellable(_) => {
                ApiError::conflict(problem::FUNDING_CONTRIBUTION_NOT_CANCELLABLE, detail)
            }
            E::NotProjectCreator => ApiError::denied(problem::FUNDING_NOT_CREATOR, detail),
            E::FinalReportNotAllowed(_) => {
                ApiError::conflict(problem::FUNDING_FINAL_REPORT_NOT_ALLOWED, detail)
            }
            E::CampaignNotFound => ApiError::NotFound("campaign".into()),
            E::NotCampaignOwner => ApiError::denied(problem::CAMPAIGN_NOT_OWNER, detail),
            E::CampaignNotRunning(_) => ApiError::conflict(problem::CAMPAIGN_NOT_RUNNING, detail),
            E::BudgetExhausted => ApiError::conflict(problem::CAMPAIGN_BUDGET_EXHAUSTED, detail),
            E::CampaignDailyLimit(_) | E::DailyViewLimit(_) => {
                ApiError::conflict(problem::AD_VIEW_DAILY_LIMIT, detail)
            }
            E::ViewAlreadyActive(_) => ApiError::conflict(problem::AD_VIEW_ALREADY_ACTIVE, detail),
            E::ViewNotFound => ApiError::NotFound("ad view".into()),
            E::ViewNotActive(_) => ApiError::conflict(problem::AD_VIEW_NOT_ACTIVE, detail),
            E::ViewExpired => ApiError::conflict(problem::AD_VIEW_EXPIRED, detail),
            E::CampaignFundingNotRefundable(_) => {
                ApiError::conflict(problem::CAMPAIGN_FUNDING_NOT_REFUNDABLE, detail)
            }
            E::Webhook(w) => match w {
                WebhookError::Forged => {
                    ApiError::denied(problem::WEBHOOK_SIGNATURE_INVALID, detail)
                }
                WebhookError::Stale => ApiError::denied(problem::WEBHOOK_TIMESTAMP_STALE, detail),
                WebhookError::Replayed => ApiError::conflict(problem::WEBHOOK_REPLAYED, detail),
                WebhookError::Malformed(_) => {
                    ApiError::unprocessable(problem::WEBHOOK_MALFORMED, detail)
                }
            },
            E::Ledger(e) => ApiError::from(e),
            // Credits are issued by the server's own rules: any failure is ours, not the caller's.
            e @ (E::Credit(_) | E::ConversionOverflow) => {
                ApiError::Internal(anyhow::Error::new(e).context("store credit"))
            }
            E::Database(e) => ApiError::from(e),
        }
    }
}
