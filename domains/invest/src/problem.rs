//! The problem `type`s the invest domain answers with: the suffix of
//! `https://posmul.dev/problems/<kind>`. Clients (and providers' dashboards) branch on these, so
//! each is named once here and mapped from [`crate::error::InvestError`] in one place.

// I4: payments.
pub const PAYMENT_PROVIDER_NOT_ENABLED: &str = "payment-provider-not-enabled";
pub const PAYMENT_TARGET_NOT_MERCHANT: &str = "payment-target-not-merchant";
pub const PAYMENT_AMOUNT_MISMATCH: &str = "payment-amount-mismatch";
pub const PAYMENT_NOT_REFUNDABLE: &str = "payment-not-refundable";
pub const PAYMENT_NOT_CONFIRMABLE: &str = "payment-not-confirmable";
pub const REFUND_EXCEEDS_PAYMENT: &str = "refund-exceeds-payment";
/// The money a refund would take back is no longer where the payment put it (a funded
/// project's escrow went to its creator).
pub const REFUND_NOT_HELD: &str = "refund-not-held";
pub const PAYMENT_PROVIDER_REFUSED: &str = "payment-provider-refused";

// I4: webhooks.
/// No signature, or one that does not verify (forged).
pub const WEBHOOK_SIGNATURE_INVALID: &str = "webhook-signature-invalid";
/// The signed time is outside the tolerance (stale).
pub const WEBHOOK_TIMESTAMP_STALE: &str = "webhook-timestamp-stale";
/// The same signature was accepted before (replayed).
pub const WEBHOOK_REPLAYED: &str = "webhook-replayed";
/// Signed, but not an event this API understands.
pub const WEBHOOK_MALFORMED: &str = "webhook-malformed";

// I2: Local League stores.
/// A latitude outside [-90, 90], a longitude outside [-180, 180], or not a number.
pub const STORE_COORDINATES_INVALID: &str = "store-coordinates-invalid";
/// A search radius not above 0 or above the largest allowed.
pub const STORE_RADIUS_OUT_OF_RANGE: &str = "store-radius-out-of-range";
/// The store is not verified yet (no reviews, not in search).
pub const STORE_NOT_VERIFIED: &str = "store-not-verified";
pub const STORE_ALREADY_VERIFIED: &str = "store-already-verified";
/// Only the store's merchant may change it.
pub const STORE_NOT_OWNER: &str = "store-not-owner";
/// A citizen reviews a store once.
pub const STORE_REVIEW_DUPLICATE: &str = "store-review-duplicate";
/// A review needs a paid payment at the store.
pub const STORE_REVIEW_WITHOUT_PAYMENT: &str = "store-review-without-payment";

// I3: Cloud Funding.
/// The project takes no contributions: not approved yet, past its deadline, or settled.
pub const FUNDING_PROJECT_NOT_OPEN: &str = "funding-project-not-open";
/// Only a proposed project whose deadline has not passed can be approved.
pub const FUNDING_PROJECT_NOT_APPROVABLE: &str = "funding-project-not-approvable";
/// A contribution is a multiple of 1,000 won within the project's minimum and maximum.
pub const FUNDING_AMOUNT_INVALID: &str = "funding-amount-invalid";
/// Only a held contribution can be cancelled, and only before the deadline.
pub const FUNDING_CONTRIBUTION_NOT_CANCELLABLE: &str = "funding-contribution-not-cancellable";
/// Only the project's creator may post its updates.
pub const FUNDING_NOT_CREATOR: &str = "funding-not-creator";
/// The final results report comes once, after the project's settlement.
pub const FUNDING_FINAL_REPORT_NOT_ALLOWED: &str = "funding-final-report-not-allowed";
// I1: Major League ads.
/// Only the campaign's advertiser may fund it or read its figures.
pub const CAMPAIGN_NOT_OWNER: &str = "campaign-not-owner";
/// The campaign is paused, scheduled or ended: no view may start.
pub const CAMPAIGN_NOT_RUNNING: &str = "campaign-not-running";
/// The campaign's available budget cannot cover one more view's reservation.
pub const CAMPAIGN_BUDGET_EXHAUSTED: &str = "campaign-budget-exhausted";
/// The citizen's rewarded views of the day reached a limit (the campaign's or over all).
pub const AD_VIEW_DAILY_LIMIT: &str = "ad-view-daily-limit";
/// The citizen already has a view in progress (one at a time).
pub const AD_VIEW_ALREADY_ACTIVE: &str = "ad-view-already-active";
/// The view is completed or expired.
pub const AD_VIEW_NOT_ACTIVE: &str = "ad-view-not-active";
/// The view had no heartbeat for too long and expired (its reservation released).
pub const AD_VIEW_EXPIRED: &str = "ad-view-expired";
/// Ad budgets are not refunded once paid.
pub const CAMPAIGN_FUNDING_NOT_REFUNDABLE: &str = "campaign-funding-not-refundable";

/// Every kind above, for the test that keeps them distinct and well-formed.
pub const ALL: &[&str] = &[
    PAYMENT_PROVIDER_NOT_ENABLED,
    PAYMENT_TARGET_NOT_MERCHANT,
    PAYMENT_AMOUNT_MISMATCH,
    PAYMENT_NOT_REFUNDABLE,
    PAYMENT_NOT_CONFIRMABLE,
    REFUND_EXCEEDS_PAYMENT,
    REFUND_NOT_HELD,
    PAYMENT_PROVIDER_REFUSED,
    WEBHOOK_SIGNATURE_INVALID,
    WEBHOOK_TIMESTAMP_STALE,
    WEBHOOK_REPLAYED,
    WEBHOOK_MALFORMED,
    STORE_COORDINATES_INVALID,
    STORE_RADIUS_OUT_OF_RANGE,
    STORE_NOT_VERIFIED,
    STORE_ALREADY_VERIFIED,
    STORE_NOT_OWNER,
    STORE_REVIEW_DUPLICATE,
    STORE_REVIEW_WITHOUT_PAYMENT,
    FUNDING_PROJECT_NOT_OPEN,
    FUNDING_PROJECT_NOT_APPROVABLE,
    FUNDING_AMOUNT_INVALID,
    FUNDING_CONTRIBUTION_NOT_CANCELLABLE,
    FUNDING_NOT_CREATOR,
    FUNDING_FINAL_REPORT_NOT_ALLOWED,
    CAMPAIGN_NOT_OWNER,
    CAMPAIGN_NOT_RUNNING,
    CAMPAIGN_BUDGET_EXHAUSTED,
    AD_VIEW_DAILY_LIMIT,
    AD_VIEW_ALREADY_ACTIVE,
    AD_VIEW_NOT_ACTIVE,
    AD_VIEW_EXPIRED,
    CAMPAIGN_FUNDING_NOT_REFUNDABLE,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn problem_kinds_are_distinct_and_well_formed() {
        let kinds: BTreeSet<&str> = super::ALL.iter().copied().collect();
        assert_eq!(kinds.len(), super::ALL.len());
        for k in super::ALL {
            assert!(
                k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{k}"
            );
            assert!(
                !posmul_api_kit::error::kind::ALL.contains(k),
                "{k} is the kit's"
            );
        }
    }
}
