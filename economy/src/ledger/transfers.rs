//! Moving PMP and KRW: transfers between accounts, the sign-up grant, and the one write path
//! both currencies share.

use std::collections::BTreeMap;

use posmul_core::money::{Krw, Pmp};
use sqlx::{PgConnection, PgTransaction};
use uuid::Uuid;

use super::accounts::open_accounts;
use super::*;

/// Moves `amount` from `from` to `to` (see the module docs for the guarantees).
#[tracing::instrument(skip_all, fields(kind = ?req.kind, amount = req.amount.get()), err(level = "info"))]
pub async fn transfer(tx: &mut PgTransaction<'_>, req: TransferRequest) -> Result<Transfer> {
    if req.amount.get() <= 0 {
        return Err(LedgerError::NonPositiveAmount(req.amount));
    }
    if req.from == req.to {
        return Err(LedgerError::SameAccount);
    }
    post(tx, req.into()).await
}

/// Like [`transfer`], but both accounts must already be open: a missing one is
/// [`LedgerError::NoSuchAccount`] instead of being opened. Every registered user has an open
/// account (from the sign-up grant), so this refuses a transfer to a user id that is not one.
#[tracing::instrument(skip_all, fields(kind = ?req.kind, amount = req.amount.get()), err(level = "info"))]
pub async fn transfer_between_open_accounts(
    tx: &mut PgTransaction<'_>,
    req: TransferRequest,
) -> Result<Transfer> {
    if req.amount.get() <= 0 {
        return Err(LedgerError::NonPositiveAmount(req.amount));
    }
    if req.from == req.to {
        return Err(LedgerError::SameAccount);
    }
    write(tx, Raw::from(Entry::from(req)), false, Currency::Pmp).await
}

/// Writes a movement of any number of legs summing to zero. Legs on the same account are netted.
#[tracing::instrument(skip_all, fields(kind = ?entry.kind, legs = entry.legs.len()), err(level = "info"))]
pub async fn post(tx: &mut PgTransaction<'_>, entry: Entry) -> Result<Transfer> {
    write(tx, entry.into(), true, Currency::Pmp).await
}

/// Writes a KRW movement (E4): legs summing to zero, every account a KRW one, with the same
/// guarantees as [`post`] (no negative balance except provider clearing, idempotency by key).
#[tracing::instrument(skip_all, fields(kind = ?entry.kind, legs = entry.legs.len()), err(level = "info"))]
pub async fn post_krw(tx: &mut PgTransaction<'_>, entry: KrwEntry) -> Result<KrwTransfer> {
    let raw = Raw {
        legs: entry
            .legs
            .iter()
            .map(|l| (l.account, l.amount.get()))
            .collect(),
        kind: entry.kind,
        reference: entry.reference,
        idempotency_key: entry.idempotency_key,
        memo: entry.memo,
    };
    let t = write(tx, raw, true, Currency::Krw).await?;
    Ok(KrwTransfer {
        id: t.id,
        kind: t.kind,
        reference: t.reference,
        created_at: t.created_at,
        legs: t
            .legs
            .iter()
            .map(|l| (l.account, Krw::new(l.amount.get())))
            .collect(),
        replayed: t.replayed,
    })
}

/// A movement in raw integers of one currency, as the write path takes it.
struct Raw {
    legs: Vec<(Account, i64)>,
    kind: TransferKind,
    reference: Reference,
    idempotency_key: Option<String>,
    memo: Option<String>,
}

impl From<Entry> for Raw {
    fn from(e: Entry) -> Raw {
        Raw {
            legs: e.legs.iter().map(|l| (l.account, l.amount.get())).collect(),
            kind: e.kind,
            reference: e.reference,
            idempotency_key: e.idempotency_key,
            memo: e.memo,
        }
    }
}

async fn write(
    tx: &mut PgTransaction<'_>,
    entry: Raw,
    open_missing: bool,
    currency: Currency,
) -> Result<Transfer> {
    let legs = net_raw(&entry.legs, currency)?;
    if entry
        .memo
        .as_deref()
        .is_some_and(|m| m.chars().count() > 280)
    {
        return Err(LedgerError::MemoTooLong);
    }
    let conn: &mut PgConnection = tx;

    if let Some(key) = &entry.idempotency_key
        && let Some(existing) = load_by_key(conn, key).await?
    {
        return same_or_conflict(existing, &entry, &legs, key);
    }

    let locked = lock_accounts(conn, &legs).await?;
    if !open_missing && let Some(missing) = legs.keys().find(|a| !locked.contains_key(*a)) {
        return Err(LedgerError::NoSuchAccount(*missing));
    }

    // Check every debit against the balance read under lock, and compute the new balances.
    let mut ids = Vec::with_capacity(legs.len());
    let mut amounts = Vec::with_capacity(legs.len());
    for (account, amount) in &legs {
        let (id, balance) = match locked.get(account) {
            Some(found) => *found,
            None => (None, Some(0)),
        };
        if let Some(balance) = balance {
            let after = balance.checked_add(*amount).ok_or(LedgerError::Overflow)?;
            if after < 0 {
                return Err(match currency {
                    Currency::Pmp => LedgerError::InsufficientFunds {
                        account: *account,
                        balance: Pmp::new(balance),
                        requested: Pmp::new(amount.saturating_neg()),
                    },
                    Currency::Krw => LedgerError::InsufficientKrw {
                        account: *account,
                        balance: Krw::new(balance),
                        requested: Krw::new(amount.saturating_neg()),
                    },
                });
            }
        }
        ids.push(id);
        amounts.push(*amount);
    }
    // Open the accounts that receive for the first time, then lock them too.
    if ids.iter().any(Option::is_none) {
        let missing: Vec<Account> = legs
            .keys()
            .zip(&ids)
            .filter(|(_, id)| id.is_none())
            .map(|(a, _)| *a)
            .collect();
        open_accounts(conn, &missing).await?;
        let relocked = lock_accounts(conn, &legs).await?;
        for ((account, _), id) in legs.iter().zip(ids.iter_mut()) {
            if id.is_none() {
                *id = relocked.get(account).and_then(|(id, _)| *id);
            }
        }
    }
    let ids: Vec<i64> = ids
        .into_iter()
        .map(|id| id.ok_or(LedgerError::Database(sqlx::Error::RowNotFound)))
        .collect::<Result<_>>()?;

    let id = Uuid::now_v7();
    let written = sqlx::query!(
        r#"WITH t AS (
               INSERT INTO ledger.transfers (id, kind, reference_kind, reference_id, idempotency_key, memo)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (idempotency_key) DO NOTHING
               RETURNING id, created_at),
           legs AS (SELECT * FROM unnest($7::bigint[], $8::bigint[]) AS l(account_id, amount)),
           upd AS (
               UPDATE ledger.accounts a SET balance = a.balance + l.amount
               FROM legs l, t
               WHERE a.id = l.account_id AND a.balance IS NOT NULL
               RETURNING a.id, a.balance),
           ins AS (
               INSERT INTO ledger.postings (transfer_id, account_id, amount, balance_after, created_at)
               SELECT t.id, l.account_id, l.amount, upd.balance, t.created_at
               FROM t CROSS JOIN legs l LEFT JOIN upd ON upd.id = l.account_id
               RETURNING account_id, balance_after)
           SELECT t.created_at AS "created_at!", ins.account_id AS "account_id!", ins.balance_after AS "balance_after?"
           FROM t CROSS JOIN ins"#,
        id,
        entry.kind as _,
        entry.reference.kind as _,
        entry.reference.id,
        entry.idempotency_key.as_deref(),
        entry.memo.as_deref(),
        &ids,
        &amounts,
    )
    .fetch_all(&mut *conn)
    .await?;

    let Some(first) = written.first() else {
        // A concurrent transfer committed the same idempotency key after our first look.
        let key = entry.idempotency_key.clone().unwrap_or_default();
        let existing = load_by_key(conn, &key)
            .await?
            .ok_or(LedgerError::Database(sqlx::Error::RowNotFound))?;
        return same_or_conflict(existing, &entry, &legs, &key);
    };
    let created_at: DateTime<Utc> = first.created_at;
    let after_by_id: BTreeMap<i64, Option<i64>> = written
        .iter()
        .map(|row| (row.account_id, row.balance_after))
        .collect();
    let legs = legs
        .iter()
        .zip(&ids)
        .map(|((account, amount), id)| PostedLeg {
            account: *account,
            amount: Pmp::new(*amount),
            balance_after: after_by_id.get(id).copied().flatten().map(Pmp::new),
        })
        .collect();
    if currency == Currency::Pmp {
        metrics::counter!("posmul_pmp_transfers_total", "kind" => format!("{:?}", entry.kind))
            .increment(1);
    }
    Ok(Transfer {
        id,
        kind: entry.kind,
        reference: entry.reference,
        memo: entry.memo,
        created_at,
        legs,
        replayed: false,
    })
}

/// The sign-up grant: `amount` from issuance to the new user, once per user (the key is
/// `signup:<user id>`, so calling it twice grants once). Opens the user's account in any case;
/// a zero grant writes no transfer (`None`).
pub async fn grant_signup(
    tx: &mut PgTransaction<'_>,
    user_id: Uuid,
    amount: Pmp,
) -> Result<Option<Transfer>> {
    open_user_account(tx, user_id).await?;
    if amount.get() == 0 {
        return Ok(None);
    }
    transfer(
        tx,
        TransferRequest {
            from: Account::ISSUANCE,
            to: Account::user(user_id),
            amount,
            kind: TransferKind::SignupGrant,
            reference: Reference {
                kind: ReferenceKind::User,
                id: user_id,
            },
            idempotency_key: Some(format!("signup:{user_id}")),
            memo: None,
        },
    )
    .await
    .map(Some)
}

/// Nets PMP legs per account (the unit tests' view of [`net_raw`]).
#[cfg(test)]
fn net_legs(legs: &[Leg]) -> Result<BTreeMap<Account, i64>> {
    let raw: Vec<(Account, i64)> = legs.iter().map(|l| (l.account, l.amount.get())).collect();
    net_raw(&raw, Currency::Pmp)
}

/// Nets the legs per account, refusing an unbalanced or empty movement, and an account that is
/// not of `currency` (a transfer moves one currency, so its zero sum is that currency's, E1).
fn net_raw(legs: &[(Account, i64)], currency: Currency) -> Result<BTreeMap<Account, i64>> {
    let mut net: BTreeMap<Account, i128> = BTreeMap::new();
    let mut sum: i128 = 0;
    for (account, amount) in legs {
        if account.currency() != currency {
            return Err(LedgerError::WrongCurrency {
                account: *account,
                expected: currency,
            });
        }
        *net.entry(*account).or_default() += i128::from(*amount);
        sum += i128::from(*amount);
    }
    if sum != 0 {
        return Err(LedgerError::Unbalanced(sum));
    }
    let net: BTreeMap<Account, i64> = net
        .into_iter()
        .filter(|(_, amount)| *amount != 0)
        .map(|(account, amount)| {
            i64::try_from(amount)
                .map(|a| (account, a))
                .map_err(|_| LedgerError::Overflow)
        })
        .collect::<Result<_>>()?;
    if net.len() < 2 {
        return Err(LedgerError::SameAccount);
    }
    Ok(net)
}

/// Locks the cached accounts among `legs` in id order and reads the uncached ones.
/// Returns (id, cached balance) per account found.
async fn lock_accounts(
    conn: &mut PgConnection,
    legs: &BTreeMap<Account, i64>,
) -> Result<BTreeMap<Account, (Option<i64>, Option<i64>)>> {
    let kinds: Vec<&str> = legs.keys().map(|a| a.kind.as_str()).collect();
    let refs: Vec<Uuid> = legs.keys().map(|a| a.reference_id).collect();
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", kind AS "kind!: AccountKind", reference_id AS "reference_id!", balance FROM (
               SELECT a.id, a.kind, a.reference_id, a.balance FROM ledger.accounts a
               WHERE (a.kind, a.reference_id) IN (SELECT * FROM unnest($1::TEXT[], $2::UUID[]))
                 AND a.kind NOT IN ('issuance', 'krw_provider_clearing')
               ORDER BY a.id
               FOR UPDATE) locked
           UNION ALL
           SELECT a.id, a.kind, a.reference_id, a.balance FROM ledger.accounts a
           WHERE a.kind IN ('issuance', 'krw_provider_clearing') AND a.kind = ANY($1::TEXT[])"#,
        &kinds as _,
        &refs,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let account = Account {
                kind: row.kind,
                reference_id: row.reference_id,
            };
            (account, (Some(row.id), row.balance))
        })
        .collect())
}

/// A transfer already written under an idempotency key, with its legs.
async fn load_by_key(conn: &mut PgConnection, key: &str) -> Result<Option<Transfer>> {
    let rows = sqlx::query!(
        r#"SELECT t.id, t.kind AS "kind: TransferKind", t.reference_kind AS "reference_kind: ReferenceKind",
                  t.reference_id, t.memo, t.created_at,
                  a.kind AS "account_kind: AccountKind", a.reference_id AS account_reference, p.amount, p.balance_after
           FROM ledger.transfers t
           JOIN ledger.postings p ON p.transfer_id = t.id
           JOIN ledger.accounts a ON a.id = p.account_id
           WHERE t.idempotency_key = $1"#,
        key,
    )
    .fetch_all(conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut legs: Vec<PostedLeg> = rows
        .iter()
        .map(|row| PostedLeg {
            account: Account {
                kind: row.account_kind,
                reference_id: row.account_reference,
            },
            amount: Pmp::new(row.amount),
            balance_after: row.balance_after.map(Pmp::new),
        })
        .collect();
    legs.sort_by_key(|l| l.account);
    Ok(Some(Transfer {
        id: first.id,
        kind: first.kind,
        reference: Reference {
            kind: first.reference_kind,
            id: first.reference_id,
        },
        memo: first.memo.clone(),
        created_at: first.created_at,
        legs,
        replayed: true,
    }))
}

fn same_or_conflict(
    existing: Transfer,
    entry: &Raw,
    legs: &BTreeMap<Account, i64>,
    key: &str,
) -> Result<Transfer> {
    let same_legs = existing.legs.len() == legs.len()
        && existing
            .legs
            .iter()
            .all(|l| legs.get(&l.account) == Some(&l.amount.get()));
    if same_legs
        && existing.kind == entry.kind
        && existing.reference == entry.reference
        && existing.memo == entry.memo
    {
        Ok(existing)
    } else {
        Err(LedgerError::IdempotencyConflict {
            key: key.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legs_on_one_account_are_netted_and_must_balance() {
        let a = Account::user(Uuid::from_u128(1));
        let b = Account::user(Uuid::from_u128(2));
        let net = net_legs(&[
            Leg {
                account: a,
                amount: Pmp::new(-5),
            },
            Leg {
                account: b,
                amount: Pmp::new(3),
            },
            Leg {
                account: b,
                amount: Pmp::new(2),
            },
        ])
        .unwrap();
        assert_eq!(net.get(&a), Some(&-5));
        assert_eq!(net.get(&b), Some(&5));
        assert!(matches!(
            net_legs(&[Leg {
                account: a,
                amount: Pmp::new(1)
            }]),
            Err(LedgerError::Unbalanced(1))
        ));
        assert!(matches!(
            net_legs(&[
                Leg {
                    account: a,
                    amount: Pmp::new(1)
                },
                Leg {
                    account: a,
                    amount: Pmp::new(-1)
                }
            ]),
            Err(LedgerError::SameAccount)
        ));
    }

    #[test]
    fn extreme_amounts_do_not_overflow_silently() {
        let a = Account::user(Uuid::from_u128(1));
        let b = Account::user(Uuid::from_u128(2));
        let r = net_legs(&[
            Leg {
                account: a,
                amount: Pmp::new(i64::MIN),
            },
            Leg {
                account: b,
                amount: Pmp::new(i64::MAX),
            },
            Leg {
                account: b,
                amount: Pmp::new(1),
            },
        ]);
        assert!(matches!(r, Err(LedgerError::Overflow)));
    }
}
