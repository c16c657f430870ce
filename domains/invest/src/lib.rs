//! Investments (DESIGN.md I1-I4, E4): real money moving (ad budgets, store payments,
//! crowdfunding) turned into PMP and PMC, over the payments every other part rests on.
//!
//! | Module | What |
//! |---|---|
//! | [`payments`] | the provider interface and its dev, Stripe-style and Toss-style implementations, the payment state machine (I4), its postings in the KRW ledger (E4), webhooks |
//! | [`ads`] | the Major League (I1): sponsored campaigns, their PMP budgets funded by KRW payments, views measured by the server with reservations that never overspend |
//! | [`error`] | [`InvestError`]: every refusal, mapped to the API's problems in one place |
//! | [`problem`] | the problem `type`s of the domain, named once |
//! | [`routes`] | the HTTP handlers of payments |
//! | [`funding`] | Cloud Funding (I3): proposals, moderator approval, contributions into a project's escrow, settlement at the deadline exactly once, refunds retried until done, creators' updates |
//! | [`stores`] | the Local League store registry (I2): registration, verification, rate events, reviews, search by distance |
//!
//! Money never moves here by hand: KRW through [`posmul_economy::ledger::post_krw`], as
//! [`posmul_core::money::Krw`]. The providers' settings come from the environment
//! ([`payments::settings`]).

pub mod ads;
pub mod error;
pub mod funding;
pub mod payments;
pub mod problem;
pub mod routes;
pub mod stores;

use std::sync::Arc;

use axum::Extension;
use posmul_core::{config::Env, tls::TlsSettings};
use utoipa_axum::{router::OpenApiRouter, routes};

use posmul_api_kit::AppState;

pub use error::InvestError;
pub use payments::Payments;

/// The payments routes, with the providers the environment enables. The server checks the
/// settings at start (a provider enabled without its keys stops it); should they still fail
/// here, no provider is enabled, with an error in the log, and payments are refused
/// (`payment-provider-not-enabled`).
pub fn router() -> OpenApiRouter<AppState> {
    router_with(Arc::new(payments_from_env()))
}

/// The providers `PAYMENT_PROVIDERS` and their settings name (README "Payments").
pub fn payments_from_env() -> Payments {
    let env = Env::process();
    let built = payments::settings::PaymentSettings::from_env(&env)
        .map_err(anyhow::Error::from)
        .and_then(|settings| {
            let tls = TlsSettings::from_env(&env)?;
            Ok(settings.build(&tls)?)
        });
    match built {
        Ok(payments) => payments,
        Err(e) => {
            tracing::error!(error = %e, "payment providers are not configured; payments are refused");
            Payments::default()
        }
    }
}

/// The payments routes over given providers (tests point them at a local server).
pub fn router_with(payments: Arc<Payments>) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::create_payment))
        .routes(routes!(routes::get_payment))
        .routes(routes!(routes::confirm_payment))
        .routes(routes!(routes::refund_payment))
        .routes(routes!(routes::webhook))
        .routes(routes!(
            stores::routes::register_store,
            stores::routes::search_stores
        ))
        .routes(routes!(stores::routes::verify_store))
        .routes(routes!(stores::routes::get_store))
        .routes(routes!(stores::routes::add_rate_event))
        .routes(routes!(stores::routes::review_store))
        .routes(routes!(
            funding::routes::propose_project,
            funding::routes::list_projects
        ))
        .routes(routes!(funding::routes::get_project))
        .routes(routes!(funding::routes::my_projects))
        .routes(routes!(funding::routes::list_proposals))
        .routes(routes!(funding::routes::approve_project))
        .routes(routes!(funding::routes::contribute))
        .routes(routes!(funding::routes::my_contributions))
        .routes(routes!(funding::routes::cancel_contribution))
        .routes(routes!(
            funding::routes::post_update,
            funding::routes::list_updates
        ))
        .routes(routes!(funding::routes::run_settlement))
        .routes(routes!(
            ads::routes::create_campaign,
            ads::routes::list_campaigns
        ))
        .routes(routes!(ads::routes::get_campaign))
        .routes(routes!(ads::routes::fund_campaign))
        .routes(routes!(ads::routes::campaign_stats))
        .routes(routes!(ads::routes::start_view))
        .routes(routes!(ads::routes::heartbeat))
        .routes(routes!(ads::routes::complete_view))
        .routes(routes!(ads::routes::pause_campaign))
        .routes(routes!(ads::routes::resume_campaign))
        .layer(Extension(payments))
}
