//! Creating accounts: the one path by which a user comes to exist (password registration or
//! a first Sign-In with Ethereum), so every account gets the same things in one transaction:
//! the `citizen` role, an empty profile, an open (empty) PMP account in [`crate::ledger`] and
//! an audit entry. The sign-up grant is not paid here: it waits for a verified e-mail address
//! (E5, [`super::email::pay_signup_grant`]).

use posmul_core::WalletAddress;
use sqlx::PgTransaction;
use uuid::Uuid;

use super::{password::Email, roles::Role};
use crate::{
    audit::{self, Action, Entry},
    auth::extract::RequestMeta,
    error::ApiError,
};

/// How the account is created.
pub enum NewAccount<'a> {
    /// Email and an argon2id PHC hash.
    Password {
        email: &'a Email,
        password_hash: &'a str,
    },
    /// A verified wallet.
    Wallet { address: WalletAddress },
}

/// Creates the account; returns its id.
pub async fn create(
    tx: &mut PgTransaction<'_>,
    account: NewAccount<'_>,
    meta: &RequestMeta,
) -> Result<Uuid, ApiError> {
    let user_id = Uuid::now_v7();
    let email = match &account {
        NewAccount::Password { email, .. } => Some(email.as_str()),
        NewAccount::Wallet { .. } => None,
    };
    sqlx::query!(
        "INSERT INTO auth.users (id, email) VALUES ($1, $2)",
        user_id,
        email,
    )
    .execute(&mut **tx)
    .await?;
    match &account {
        NewAccount::Password { password_hash, .. } => {
            sqlx::query!(
                "INSERT INTO auth.password_credentials (user_id, password_hash) VALUES ($1, $2)",
                user_id,
                *password_hash,
            )
            .execute(&mut **tx)
            .await?;
        }
        NewAccount::Wallet { address } => {
            sqlx::query!(
                "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
                address.as_slice(),
                user_id,
            )
            .execute(&mut **tx)
            .await?;
        }
    }
    sqlx::query!(
        "INSERT INTO auth.user_roles (user_id, role) VALUES ($1, $2)",
        user_id,
        Role::Citizen.as_str(),
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!("INSERT INTO auth.profiles (user_id) VALUES ($1)", user_id)
        .execute(&mut **tx)
        .await?;
    let (action, details) = match &account {
        NewAccount::Password { .. } => (
            Action::Register,
            serde_json::json!({ "method": "password" }),
        ),
        NewAccount::Wallet { address } => (
            Action::Register,
            serde_json::json!({ "method": "siwe", "address": address }),
        ),
    };
    audit::record(
        &mut **tx,
        Entry {
            action,
            actor: Some(user_id),
            subject: Some(user_id),
            meta,
            details,
        },
    )
    .await?;
    crate::ledger::open_user_account(tx, user_id)
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("PMP account")))?;
    metrics::counter!("auth_registrations_total").increment(1);
    Ok(user_id)
}
