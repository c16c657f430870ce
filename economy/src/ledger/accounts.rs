//! Accounts: opening them and reading their balances.

use posmul_core::money::{Krw, Pmp};
use sqlx::PgConnection;
use uuid::Uuid;

use super::*;

/// Opens a user's account with a zero balance (does nothing if it exists).
pub async fn open_user_account(conn: &mut PgConnection, user_id: Uuid) -> Result<()> {
    open_accounts(conn, &[Account::user(user_id)]).await
}

/// The escrow account of a game, opened if needed.
pub async fn escrow_account(conn: &mut PgConnection, game_id: Uuid) -> Result<Account> {
    let account = Account::game_escrow(game_id);
    open_accounts(conn, &[account]).await?;
    Ok(account)
}

/// The balance of an account (0 for one never opened). For the issuance account this is the
/// negated total issued, computed from its postings.
pub async fn balance(conn: &mut PgConnection, account: Account) -> Result<Pmp> {
    if account.currency() != Currency::Pmp {
        return Err(LedgerError::WrongCurrency {
            account,
            expected: Currency::Pmp,
        });
    }
    raw_balance(conn, account).await.map(Pmp::new)
}

/// The balance of a KRW account (0 for one never opened); for provider clearing, minus what the
/// providers hold for the platform.
pub async fn balance_krw(conn: &mut PgConnection, account: Account) -> Result<Krw> {
    if account.currency() != Currency::Krw {
        return Err(LedgerError::WrongCurrency {
            account,
            expected: Currency::Krw,
        });
    }
    raw_balance(conn, account).await.map(Krw::new)
}

async fn raw_balance(conn: &mut PgConnection, account: Account) -> Result<i64> {
    let kind = account.kind.as_str();
    let balance: Option<i64> = if account.is_uncached() {
        sqlx::query_scalar!(
            r#"SELECT COALESCE(SUM(p.amount), 0)::BIGINT AS "balance!" FROM ledger.accounts a
               JOIN ledger.postings p ON p.account_id = a.id WHERE a.kind = $1 AND a.reference_id = $2"#,
            kind,
            account.reference_id,
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_scalar!(
            "SELECT balance FROM ledger.accounts WHERE kind = $1 AND reference_id = $2",
            kind,
            account.reference_id,
        )
        .fetch_optional(conn)
        .await?
        .flatten()
    };
    Ok(balance.unwrap_or(0))
}

pub(super) async fn open_accounts(conn: &mut PgConnection, accounts: &[Account]) -> Result<()> {
    let kinds: Vec<&str> = accounts.iter().map(|a| a.kind.as_str()).collect();
    let refs: Vec<Uuid> = accounts.iter().map(|a| a.reference_id).collect();
    sqlx::query!(
        "INSERT INTO ledger.accounts (kind, reference_id, balance)
         SELECT k, r, CASE WHEN k IN ('issuance', 'krw_provider_clearing') THEN NULL ELSE 0 END FROM unnest($1::TEXT[], $2::UUID[]) AS u(k, r)
         ON CONFLICT (kind, reference_id) DO NOTHING",
        &kinds as _,
        &refs,
    )
    .execute(conn)
    .await?;
    Ok(())
}
