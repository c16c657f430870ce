//! The SQL proof of E1 over the whole ledger.

use sqlx::PgConnection;

use super::*;

/// The result of `ledger.check_zero_sum()`: exact when every count is 0 and the sum is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Audit {
    /// The sum of all postings (E1: zero).
    pub postings_sum: i128,
    /// Transfers whose postings do not sum to zero or that have fewer than two.
    pub unbalanced_transfers: i64,
    /// Accounts whose cached balance differs from the sum of their postings.
    pub balance_mismatches: i64,
    /// Accounts with a negative cached balance.
    pub negative_balances: i64,
}

impl Audit {
    pub fn is_exact(&self) -> bool {
        *self == Audit::default()
    }
}

/// Runs the SQL proof of E1 over the whole PMP ledger.
pub async fn audit(conn: &mut PgConnection) -> Result<Audit> {
    let row = sqlx::query!(
        r#"SELECT postings_sum::TEXT AS "postings_sum!", unbalanced_transfers AS "unbalanced_transfers!",
                  balance_mismatches AS "balance_mismatches!", negative_balances AS "negative_balances!"
           FROM ledger.check_zero_sum()"#
    )
    .fetch_one(conn)
    .await?;
    Ok(Audit {
        postings_sum: row
            .postings_sum
            .parse()
            .map_err(|e| LedgerError::Database(sqlx::Error::Decode(Box::new(e))))?,
        unbalanced_transfers: row.unbalanced_transfers,
        balance_mismatches: row.balance_mismatches,
        negative_balances: row.negative_balances,
    })
}

/// The sum of all postings per currency (`ledger.currency_totals`); E1 holds when each is 0.
pub async fn currency_totals(conn: &mut PgConnection) -> Result<Vec<(Currency, i128)>> {
    let rows = sqlx::query!(
        r#"SELECT currency AS "currency!", postings_sum::TEXT AS "postings_sum!"
           FROM ledger.currency_totals ORDER BY currency"#
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let currency = match row.currency.as_str() {
                "KRW" => Currency::Krw,
                _ => Currency::Pmp,
            };
            let sum = row
                .postings_sum
                .parse()
                .map_err(|e| LedgerError::Database(sqlx::Error::Decode(Box::new(e))))?;
            Ok((currency, sum))
        })
        .collect()
}
