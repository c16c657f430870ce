//! An account's history, newest first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::*;

/// One line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The posting's position; pass it back as the cursor to read older entries.
    #[serde(skip)]
    pub posting_id: i64,
    pub transfer_id: Uuid,
    pub kind: TransferKind,
    /// Positive: received; negative: sent.
    #[schema(value_type = i64)]
    pub amount: Pmp,
    /// The balance right after this entry.
    #[schema(value_type = i64)]
    pub balance_after: Pmp,
    /// The account on the other side (the largest opposite leg).
    pub counter_account: Option<Account>,
    /// The business object (game, campaign, post, user …).
    pub reference: Reference,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An account's entries, newest first, older than the posting `before` (exclusive) when given.
#[tracing::instrument(skip(conn), err)]
pub async fn history(
    conn: &mut PgConnection,
    account: Account,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<HistoryEntry>> {
    let rows = sqlx::query!(
        r#"SELECT p.id, p.transfer_id, t.kind AS "kind: TransferKind", p.amount,
                  COALESCE(p.balance_after, 0) AS "balance_after!",
                  c.kind AS "counter_kind?: AccountKind", c.reference_id AS "counter_reference?",
                  t.reference_kind AS "reference_kind: ReferenceKind", t.reference_id, t.memo, p.created_at
           FROM ledger.accounts a
           JOIN ledger.postings p ON p.account_id = a.id
           JOIN ledger.transfers t ON t.id = p.transfer_id
           LEFT JOIN LATERAL (
               SELECT o.kind, o.reference_id FROM ledger.postings q JOIN ledger.accounts o ON o.id = q.account_id
               WHERE q.transfer_id = p.transfer_id AND sign(q.amount) <> sign(p.amount)
               ORDER BY abs(q.amount) DESC, q.id LIMIT 1) c ON true
           WHERE a.kind = $1 AND a.reference_id = $2 AND ($3::BIGINT IS NULL OR p.id < $3)
           ORDER BY p.id DESC
           LIMIT $4"#,
        account.kind.as_str(),
        account.reference_id,
        before,
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryEntry {
            posting_id: r.id,
            transfer_id: r.transfer_id,
            kind: r.kind,
            amount: Pmp::new(r.amount),
            balance_after: Pmp::new(r.balance_after),
            counter_account: r
                .counter_kind
                .zip(r.counter_reference)
                .map(|(kind, reference_id)| Account { kind, reference_id }),
            reference: Reference {
                kind: r.reference_kind,
                id: r.reference_id,
            },
            memo: r.memo,
            created_at: r.created_at,
        })
        .collect())
}
