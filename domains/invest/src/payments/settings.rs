//! The payment providers' settings, from the environment (README "Payments").
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PAYMENT_PROVIDERS` | `dev` with `POSMUL_ENV=dev`, otherwise none | the providers enabled, comma-separated: `dev`, `stripe`, `toss` |
//! | `PAYMENT_WEBHOOK_TOLERANCE_SECS` | `300` | how far a webhook's signed time may be from now (I4) |
//! | `PAYMENT_MAX_KRW` | `10000000` | the largest payment, in won |
//! | `PAYMENT_DEV_WEBHOOK_SECRET` | `dev-webhook-secret` | the dev provider's webhook key |
//! | `STRIPE_API_BASE` | `https://api.stripe.com` | the Stripe-style API |
//! | `STRIPE_SECRET_KEY` | required for `stripe` | the secret API key (`sk_…`) |
//! | `STRIPE_WEBHOOK_SECRET` | required for `stripe` | the endpoint's signing secret (`whsec_…`) |
//! | `TOSS_API_BASE` | `https://api.tosspayments.com` | the Toss-style API |
//! | `TOSS_SECRET_KEY` | required for `toss` | the secret key (`test_sk_…` / `live_sk_…`) |
//! | `TOSS_WEBHOOK_SECRET` | required for `toss` | the webhook signing key |
//! | `PAYMENT_HTTP_TIMEOUT_MS` | `10000` | each provider call's timeout |

use std::time::Duration;

use posmul_core::{
    config::{ConfigError, Env},
    tls::{Environment, TlsSettings},
};
use secrecy::SecretString;

use super::{Payments, dev::DevProvider, stripe::StripeProvider, toss::TossProvider};

/// The development provider's default webhook key (only ever used where `dev` is enabled).
pub const DEV_WEBHOOK_SECRET: &str = "dev-webhook-secret";

/// The payment settings.
#[derive(Clone)]
pub struct PaymentSettings {
    pub dev: bool,
    pub stripe: Option<ProviderKeys>,
    pub toss: Option<ProviderKeys>,
    pub tolerance: chrono::Duration,
    pub max_krw: i64,
    pub dev_webhook_secret: String,
    pub http_timeout: Duration,
}

/// One provider's API base and keys.
#[derive(Clone)]
pub struct ProviderKeys {
    pub base_url: String,
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
}

impl PaymentSettings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let environment = env.or("POSMUL_ENV", Environment::Prod)?;
        let default: &[&str] = if environment == Environment::Dev {
            &["dev"]
        } else {
            &[]
        };
        let enabled = env.list("PAYMENT_PROVIDERS", default);
        for name in &enabled {
            if !["dev", "stripe", "toss"].contains(&name.as_str()) {
                return Err(ConfigError::Malformed {
                    name: "PAYMENT_PROVIDERS".into(),
                    value: name.clone(),
                    reason: "expected dev, stripe or toss".into(),
                });
            }
        }
        let on = |name: &str| enabled.iter().any(|e| e == name);
        let keys = |prefix: &str,
                    base: &str,
                    secret_hint: &'static str,
                    webhook_hint: &'static str|
         -> Result<ProviderKeys, ConfigError> {
            Ok(ProviderKeys {
                base_url: env.or(&format!("{prefix}_API_BASE"), base.to_owned())?,
                secret_key: SecretString::from(
                    env.required::<String>(&format!("{prefix}_SECRET_KEY"), secret_hint)?,
                ),
                webhook_secret: SecretString::from(
                    env.required::<String>(&format!("{prefix}_WEBHOOK_SECRET"), webhook_hint)?,
                ),
            })
        };
        Ok(PaymentSettings {
            dev: on("dev"),
            stripe: on("stripe")
                .then(|| {
                    keys(
                        "STRIPE",
                        "https://api.stripe.com",
                        "the Stripe secret API key (sk_…)",
                        "the webhook endpoint's signing secret (whsec_…)",
                    )
                })
                .transpose()?,
            toss: on("toss")
                .then(|| {
                    keys(
                        "TOSS",
                        "https://api.tosspayments.com",
                        "the Toss secret key",
                        "the Toss webhook signing key",
                    )
                })
                .transpose()?,
            tolerance: chrono::Duration::seconds(env.or("PAYMENT_WEBHOOK_TOLERANCE_SECS", 300i64)?),
            max_krw: env.or("PAYMENT_MAX_KRW", 10_000_000i64)?,
            dev_webhook_secret: env
                .or("PAYMENT_DEV_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET.to_owned())?,
            http_timeout: env.millis("PAYMENT_HTTP_TIMEOUT_MS", 10_000)?,
        })
    }

    /// The providers these settings name; provider calls trust the roots `tls` names.
    pub fn build(&self, tls: &TlsSettings) -> Result<Payments, reqwest::Error> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls.client_config()).clone())
            .timeout(self.http_timeout)
            .build()?;
        Ok(Payments {
            dev: self
                .dev
                .then(|| DevProvider::new(self.dev_webhook_secret.as_bytes(), self.tolerance)),
            stripe: self.stripe.as_ref().map(|k| {
                StripeProvider::new(
                    http.clone(),
                    k.base_url.clone(),
                    k.secret_key.clone(),
                    k.webhook_secret.clone(),
                    self.tolerance,
                )
            }),
            toss: self.toss.as_ref().map(|k| {
                TossProvider::new(
                    http.clone(),
                    k.base_url.clone(),
                    k.secret_key.clone(),
                    k.webhook_secret.clone(),
                    self.tolerance,
                )
            }),
            max_krw: self.max_krw,
        })
    }
}
