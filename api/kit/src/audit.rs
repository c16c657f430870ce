//! The append-only audit log of security-relevant actions (U2): sign-ins, failed sign-ins and
//! locked logins, refresh-token reuse, e-mail verification and password resets, role changes,
//! wallet links, bans, admin actions.
//!
//! Write with [`record`] inside the transaction of the action it describes (or on its own for
//! refusals such as a failed sign-in). The table refuses UPDATE, DELETE and TRUNCATE.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::client::RequestMeta;

/// The actions recorded, by stable name (the `action` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Register,
    SignIn,
    SignInFailed,
    SiweSignIn,
    SiweSignInFailed,
    RefreshTokenReused,
    Logout,
    WalletLinked,
    /// An e-mail address was added to an account that had none (a SIWE account, E5).
    EmailAdded,
    /// An account proved its e-mail address with a verification token (U2, E5).
    EmailVerified,
    /// A password was set with a reset token; every session of the account was revoked (U2).
    PasswordReset,
    /// Repeated failed sign-ins locked a login for a while (U2).
    SignInLocked,
    RoleGranted,
    RoleRevoked,
    /// The first admin, made by the one-time bootstrap command (U1).
    BootstrapAdmin,
    /// An admin banned an account: its tokens end on their next request (U1).
    UserBanned,
    /// An admin lifted a ban (U1).
    UserUnbanned,
    /// An admin set a new economy configuration version (M1).
    EconomyConfigSet,
    /// An admin set a new version of the investment rates (I1, I2, I3).
    EconomyRatesSet,
    /// An admin corrected a prediction game's settlement (P5, P6).
    PredictionSettlementCorrected,
    /// An admin or resolver settled a prediction game (P5, P6).
    PredictionGameSettled,
    /// An admin or resolver cancelled a prediction game (P3, P6).
    PredictionGameCancelled,
    /// A moderator approved a user-proposed game for the hourly pools (P6).
    PredictionGameApproved,
    /// An admin set a category multiplier of the hourly pools (M2, P6).
    PredictionMultiplierSet,
    /// A payment webhook was refused: forged, stale or replayed (I4).
    PaymentWebhookRefused,
    /// An admin refunded a payment, in part or in full (I4).
    PaymentRefunded,
    /// An admin verified a Local League store: it appears in search (I2).
    StoreVerified,
    /// A store's owner added a rate event: a raised PMC rate for a window (I2).
    StoreRateEventAdded,
    /// A moderator approved a Cloud Funding project: it takes contributions (I3).
    FundingProjectApproved,
    /// A Cloud Funding project was settled at its deadline: funded or failed (I3).
    FundingProjectSettled,
    /// A contribution was refunded through the provider: cancelled, or its project failed (I3).
    FundingContributionRefunded,
    /// An admin paused a Major League campaign: no view may start (I1).
    CampaignPaused,
    /// An admin resumed a paused campaign (I1).
    CampaignResumed,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::SignIn => "sign_in",
            Action::SignInFailed => "sign_in_failed",
            Action::SiweSignIn => "siwe_sign_in",
            Action::SiweSignInFailed => "siwe_sign_in_failed",
            Action::RefreshTokenReused => "refresh_token_reused",
            Action::Logout => "logout",
            Action::WalletLinked => "wallet_linked",
            Action::EmailAdded => "email_added",
            Action::EmailVerified => "email_verified",
            Action::PasswordReset => "password_reset",
            Action::SignInLocked => "sign_in_locked",
            Action::RoleGranted => "role_granted",
            Action::RoleRevoked => "role_revoked",
            Action::BootstrapAdmin => "bootstrap_admin",
            Action::UserBanned => "user_banned",
            Action::UserUnbanned => "user_unbanned",
            Action::EconomyConfigSet => "economy_config_set",
            Action::EconomyRatesSet => "economy_rates_set",
            Action::PredictionSettlementCorrected => "prediction_settlement_corrected",
            Action::PredictionGameSettled => "prediction_game_settled",
            Action::PredictionGameCancelled => "prediction_game_cancelled",
            Action::PredictionGameApproved => "prediction_game_approved",
            Action::PredictionMultiplierSet => "prediction_multiplier_set",
            Action::PaymentWebhookRefused => "payment_webhook_refused",
            Action::PaymentRefunded => "payment_refunded",
            Action::StoreVerified => "store_verified",
            Action::StoreRateEventAdded => "store_rate_event_added",
            Action::FundingProjectApproved => "funding_project_approved",
            Action::FundingProjectSettled => "funding_project_settled",
            Action::FundingContributionRefunded => "funding_contribution_refunded",
            Action::CampaignPaused => "campaign_paused",
            Action::CampaignResumed => "campaign_resumed",
        }
    }
}

/// One entry to append.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub action: Action,
    pub actor: Option<Uuid>,
    pub subject: Option<Uuid>,
    pub meta: &'a RequestMeta,
    pub details: Value,
}

/// Appends an entry.
pub async fn record(db: impl sqlx::PgExecutor<'_>, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO auth.audit_log (action, actor_user_id, subject_user_id, ip, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
        entry.action.as_str(),
        entry.actor,
        entry.subject,
        entry.meta.ip.as_deref(),
        entry.meta.request_id.as_deref(),
        entry.details,
    )
    .execute(db)
    .await?;
    Ok(())
}
