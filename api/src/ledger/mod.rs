//! The PMP ledger (DESIGN.md E1, E2): the only way PMP moves.
//!
//! Double-entry: every movement is a [`Transfer`] of postings that sum to zero, written in the
//! caller's transaction. Accounts are named by an [`Account`] (a kind and the user, game or
//! campaign they belong to); they are opened on first use.
//!
//! Guarantees, for every function here:
//! - **No negative balance.** Every account except [`Account::ISSUANCE`] carries a cached balance
//!   that is read under `SELECT … FOR UPDATE` (accounts locked in id order, so concurrent
//!   transfers never deadlock) and checked before any write; the `accounts_balance_non_negative`
//!   constraint refuses a negative balance even if a bug skipped that check.
//! - **Zero sum.** Legs are checked to sum to zero before anything is written;
//!   `ledger.check_zero_sum()` ([`audit`]) proves it for the whole history.
//! - **Idempotency.** A transfer may carry an internal idempotency key naming its business event
//!   ("signup:<user id>", "stake:<prediction id>"): a second transfer with the same key and the same
//!   content returns the first ([`Transfer::replayed`]) and moves nothing; different content is
//!   [`LedgerError::IdempotencyConflict`]. HTTP requests use [`crate::idempotency`] instead.
//!
//! Later features (prediction stakes, ad rewards, forum rewards, …) call [`transfer`] or [`post`]
//! inside their own transaction; nothing else writes `ledger.*`.

pub mod routes;
pub use routes::router;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use posmul_core::money::Pmp;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgTransaction, Row};
use uuid::Uuid;

/// The nil UUID names singleton system accounts (issuance, burn).
const SINGLETON: Uuid = Uuid::nil();

/// What an account is for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A citizen's points; the reference is the user id.
    User,
    /// The source of every grant and reward. It carries the other side, so its balance is
    /// negative (the total ever issued) and not cached.
    Issuance,
    /// Where consumed points go (stakes at settlement).
    Burn,
    /// Stakes locked in a prediction game; the reference is the game id.
    GameEscrow,
    /// A sponsored campaign's remaining budget; the reference is the campaign id.
    CampaignBudget,
}

impl AccountKind {
    fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Issuance => "issuance",
            AccountKind::Burn => "burn",
            AccountKind::GameEscrow => "game_escrow",
            AccountKind::CampaignBudget => "campaign_budget",
        }
    }
}

/// An account: its kind and the user, game or campaign it belongs to (nil for singletons).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub struct Account {
    pub kind: AccountKind,
    /// The user, game or campaign id; the nil UUID for the issuance and burn accounts.
    pub reference_id: Uuid,
}

impl Account {
    /// The source of grants and rewards (may go negative).
    pub const ISSUANCE: Account = Account {
        kind: AccountKind::Issuance,
        reference_id: SINGLETON,
    };
    /// The sink of consumed stakes.
    pub const BURN: Account = Account {
        kind: AccountKind::Burn,
        reference_id: SINGLETON,
    };

    /// A user's PMP account.
    pub fn user(user_id: Uuid) -> Account {
        Account {
            kind: AccountKind::User,
            reference_id: user_id,
        }
    }

    /// The escrow holding a prediction game's stakes.
    pub fn game_escrow(game_id: Uuid) -> Account {
        Account {
            kind: AccountKind::GameEscrow,
            reference_id: game_id,
        }
    }

    /// A sponsored campaign's budget.
    pub fn campaign_budget(campaign_id: Uuid) -> Account {
        Account {
            kind: AccountKind::CampaignBudget,
            reference_id: campaign_id,
        }
    }

    /// Only the issuance account may go negative; it has no cached balance.
    fn is_uncached(self) -> bool {
        self.kind == AccountKind::Issuance
    }
}

/// What a transfer is. New features add their kinds here.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// The sign-up grant (issuance → user).
    SignupGrant,
    /// A citizen sends points to another citizen (user → user).
    UserTransfer,
    /// A prediction stake is locked (user → game escrow).
    Stake,
    /// A stake is returned on withdrawal or cancellation (game escrow → user).
    StakeRefund,
    /// Stakes are consumed at settlement (game escrow → burn).
    StakeSettlement,
    /// A Major League ad-view reward (campaign budget → user).
    AdReward,
    /// A sponsored campaign's budget is funded (issuance → campaign budget).
    CampaignFunding,
    /// A forum activity reward (issuance → user).
    ForumReward,
}

/// The kind of business object a transfer belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    User,
    Game,
    Prediction,
    Campaign,
    Post,
    Comment,
}

/// The business object a transfer belongs to (a game, a campaign, a post, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reference {
    pub kind: ReferenceKind,
    pub id: Uuid,
}

/// One side of a movement: `amount` is added to `account` (negative: taken from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    pub account: Account,
    pub amount: Pmp,
}

/// A two-sided movement of a positive amount from one account to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub from: Account,
    pub to: Account,
    pub amount: Pmp,
    pub kind: TransferKind,
    pub reference: Reference,
    /// Names the business event, so that a retry moves nothing (see the module docs).
    pub idempotency_key: Option<String>,
    /// Free text shown in the history (≤ 280 characters).
    pub memo: Option<String>,
}

/// A movement with any number of legs that sum to zero (e.g. refunding every stake of a game).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub legs: Vec<Leg>,
    pub kind: TransferKind,
    pub reference: Reference,
    pub idempotency_key: Option<String>,
    pub memo: Option<String>,
}

impl From<TransferRequest> for Entry {
    fn from(r: TransferRequest) -> Entry {
        Entry {
            legs: vec![
                Leg {
                    account: r.from,
                    amount: Pmp(r.amount.0.saturating_neg()),
                },
                Leg {
                    account: r.to,
                    amount: r.amount,
                },
            ],
            kind: r.kind,
            reference: r.reference,
            idempotency_key: r.idempotency_key,
            memo: r.memo,
        }
    }
}

/// A leg as written, with the account's balance right after it (None for issuance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PostedLeg {
    pub account: Account,
    #[schema(value_type = i64)]
    pub amount: Pmp,
    #[schema(value_type = Option<i64>)]
    pub balance_after: Option<Pmp>,
}

/// A written transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    pub id: Uuid,
    pub kind: TransferKind,
    pub reference: Reference,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Ordered by account.
    pub legs: Vec<PostedLeg>,
    /// True when this call found the transfer already written under its idempotency key and
    /// moved nothing.
    pub replayed: bool,
}

impl Transfer {
    /// The posted leg of `account`, if it took part.
    pub fn leg(&self, account: Account) -> Option<&PostedLeg> {
        self.legs.iter().find(|l| l.account == account)
    }
}

/// Why a movement was refused. Nothing was written when any of these is returned, so the
/// caller's transaction is still usable (except after [`LedgerError::Database`]).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The account holds less than the movement takes from it (E1).
    #[error("insufficient PMP: the balance is {balance}, the transfer needs {requested}")]
    InsufficientFunds {
        account: Account,
        balance: Pmp,
        requested: Pmp,
    },
    /// Amounts moved are whole positive points.
    #[error("a PMP amount must be positive, got {0}")]
    NonPositiveAmount(Pmp),
    /// Money cannot move from an account to itself.
    #[error("a transfer needs two different accounts")]
    SameAccount,
    /// The legs do not sum to zero (a programming error in the caller).
    #[error("the legs of a transfer must sum to zero, they sum to {0}")]
    Unbalanced(i128),
    /// A balance would leave the 64-bit range.
    #[error("a PMP amount is out of range")]
    Overflow,
    /// The memo is longer than 280 characters.
    #[error("a memo has at most 280 characters")]
    MemoTooLong,
    /// The internal idempotency key already names a different transfer.
    #[error("idempotency key {key:?} already names a different transfer")]
    IdempotencyConflict { key: String },
    /// [`transfer_between_open_accounts`] names an account that was never opened.
    #[error("no such PMP account: {0:?}")]
    NoSuchAccount(Account),
    #[error("ledger database error")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Moves `amount` from `from` to `to` (see the module docs for the guarantees).
#[tracing::instrument(skip_all, fields(kind = ?req.kind, amount = req.amount.0), err(level = "info"))]
pub async fn transfer(tx: &mut PgTransaction<'_>, req: TransferRequest) -> Result<Transfer> {
    if req.amount.0 <= 0 {
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
#[tracing::instrument(skip_all, fields(kind = ?req.kind, amount = req.amount.0), err(level = "info"))]
pub async fn transfer_between_open_accounts(
    tx: &mut PgTransaction<'_>,
    req: TransferRequest,
) -> Result<Transfer> {
    if req.amount.0 <= 0 {
        return Err(LedgerError::NonPositiveAmount(req.amount));
    }
    if req.from == req.to {
        return Err(LedgerError::SameAccount);
    }
    write(tx, req.into(), false).await
}

/// Writes a movement of any number of legs summing to zero. Legs on the same account are netted.
#[tracing::instrument(skip_all, fields(kind = ?entry.kind, legs = entry.legs.len()), err(level = "info"))]
pub async fn post(tx: &mut PgTransaction<'_>, entry: Entry) -> Result<Transfer> {
    write(tx, entry, true).await
}

async fn write(tx: &mut PgTransaction<'_>, entry: Entry, open_missing: bool) -> Result<Transfer> {
    let legs = net_legs(&entry.legs)?;
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
                return Err(LedgerError::InsufficientFunds {
                    account: *account,
                    balance: Pmp(balance),
                    requested: Pmp(amount.saturating_neg()),
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
    let written = sqlx::query(
        "WITH t AS (
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
         SELECT t.created_at, ins.account_id, ins.balance_after FROM t CROSS JOIN ins",
    )
    .bind(id)
    .bind(entry.kind)
    .bind(entry.reference.kind)
    .bind(entry.reference.id)
    .bind(entry.idempotency_key.as_deref())
    .bind(entry.memo.as_deref())
    .bind(&ids)
    .bind(&amounts)
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
    let created_at: DateTime<Utc> = first.try_get(0)?;
    let mut after_by_id = BTreeMap::new();
    for row in &written {
        after_by_id.insert(row.try_get::<i64, _>(1)?, row.try_get::<Option<i64>, _>(2)?);
    }
    let legs = legs
        .iter()
        .zip(&ids)
        .map(|((account, amount), id)| PostedLeg {
            account: *account,
            amount: Pmp(*amount),
            balance_after: after_by_id.get(id).copied().flatten().map(Pmp),
        })
        .collect();
    metrics::counter!("posmul_pmp_transfers_total", "kind" => format!("{:?}", entry.kind))
        .increment(1);
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
    if amount.0 == 0 {
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
    let sql = if account.is_uncached() {
        "SELECT COALESCE(SUM(p.amount), 0)::BIGINT FROM ledger.accounts a
         JOIN ledger.postings p ON p.account_id = a.id WHERE a.kind = $1 AND a.reference_id = $2"
    } else {
        "SELECT balance FROM ledger.accounts WHERE kind = $1 AND reference_id = $2"
    };
    let balance: Option<i64> = sqlx::query_scalar(sql)
        .bind(account.kind)
        .bind(account.reference_id)
        .fetch_optional(conn)
        .await?;
    Ok(Pmp(balance.unwrap_or(0)))
}

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
    let rows = sqlx::query(
        "SELECT p.id, p.transfer_id, t.kind, p.amount, COALESCE(p.balance_after, 0) AS balance_after,
                c.kind AS counter_kind, c.reference_id AS counter_reference,
                t.reference_kind, t.reference_id, t.memo, p.created_at
         FROM ledger.accounts a
         JOIN ledger.postings p ON p.account_id = a.id
         JOIN ledger.transfers t ON t.id = p.transfer_id
         LEFT JOIN LATERAL (
             SELECT o.kind, o.reference_id FROM ledger.postings q JOIN ledger.accounts o ON o.id = q.account_id
             WHERE q.transfer_id = p.transfer_id AND sign(q.amount) <> sign(p.amount)
             ORDER BY abs(q.amount) DESC, q.id LIMIT 1) c ON true
         WHERE a.kind = $1 AND a.reference_id = $2 AND ($3::BIGINT IS NULL OR p.id < $3)
         ORDER BY p.id DESC
         LIMIT $4",
    )
    .bind(account.kind)
    .bind(account.reference_id)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(history_entry).collect()
}

fn history_entry(row: &sqlx::postgres::PgRow) -> Result<HistoryEntry> {
    let counter_kind: Option<AccountKind> = row.try_get("counter_kind")?;
    let counter_reference: Option<Uuid> = row.try_get("counter_reference")?;
    Ok(HistoryEntry {
        posting_id: row.try_get("id")?,
        transfer_id: row.try_get("transfer_id")?,
        kind: row.try_get("kind")?,
        amount: Pmp(row.try_get("amount")?),
        balance_after: Pmp(row.try_get("balance_after")?),
        counter_account: counter_kind
            .zip(counter_reference)
            .map(|(kind, reference_id)| Account { kind, reference_id }),
        reference: Reference {
            kind: row.try_get("reference_kind")?,
            id: row.try_get("reference_id")?,
        },
        memo: row.try_get("memo")?,
        created_at: row.try_get("created_at")?,
    })
}

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
    let row = sqlx::query(
        "SELECT postings_sum::TEXT, unbalanced_transfers, balance_mismatches, negative_balances FROM ledger.check_zero_sum()",
    )
    .fetch_one(conn)
    .await?;
    let sum: String = row.try_get(0)?;
    Ok(Audit {
        postings_sum: sum
            .parse()
            .map_err(|e| LedgerError::Database(sqlx::Error::Decode(Box::new(e))))?,
        unbalanced_transfers: row.try_get(1)?,
        balance_mismatches: row.try_get(2)?,
        negative_balances: row.try_get(3)?,
    })
}

/// Nets the legs per account, refusing an unbalanced or empty movement.
fn net_legs(legs: &[Leg]) -> Result<BTreeMap<Account, i64>> {
    let mut net: BTreeMap<Account, i128> = BTreeMap::new();
    let mut sum: i128 = 0;
    for leg in legs {
        *net.entry(leg.account).or_default() += i128::from(leg.amount.0);
        sum += i128::from(leg.amount.0);
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
    let rows = sqlx::query(
        "SELECT * FROM (
             SELECT a.id, a.kind, a.reference_id, a.balance FROM ledger.accounts a
             WHERE (a.kind, a.reference_id) IN (SELECT * FROM unnest($1::TEXT[], $2::UUID[]))
               AND a.kind <> 'issuance'
             ORDER BY a.id
             FOR UPDATE) locked
         UNION ALL
         SELECT a.id, a.kind, a.reference_id, a.balance FROM ledger.accounts a
         WHERE a.kind = 'issuance' AND 'issuance' = ANY($1::TEXT[])",
    )
    .bind(&kinds)
    .bind(&refs)
    .fetch_all(conn)
    .await?;
    let mut found = BTreeMap::new();
    for row in rows {
        let account = Account {
            kind: row.try_get("kind")?,
            reference_id: row.try_get("reference_id")?,
        };
        found.insert(
            account,
            (
                Some(row.try_get::<i64, _>("id")?),
                row.try_get::<Option<i64>, _>("balance")?,
            ),
        );
    }
    Ok(found)
}

async fn open_accounts(conn: &mut PgConnection, accounts: &[Account]) -> Result<()> {
    let kinds: Vec<&str> = accounts.iter().map(|a| a.kind.as_str()).collect();
    let refs: Vec<Uuid> = accounts.iter().map(|a| a.reference_id).collect();
    sqlx::query(
        "INSERT INTO ledger.accounts (kind, reference_id, balance)
         SELECT k, r, CASE WHEN k = 'issuance' THEN NULL ELSE 0 END FROM unnest($1::TEXT[], $2::UUID[]) AS u(k, r)
         ON CONFLICT (kind, reference_id) DO NOTHING",
    )
    .bind(&kinds)
    .bind(&refs)
    .execute(conn)
    .await?;
    Ok(())
}

/// A transfer already written under an idempotency key, with its legs.
async fn load_by_key(conn: &mut PgConnection, key: &str) -> Result<Option<Transfer>> {
    let rows = sqlx::query(
        "SELECT t.id, t.kind, t.reference_kind, t.reference_id, t.memo, t.created_at,
                a.kind AS account_kind, a.reference_id AS account_reference, p.amount, p.balance_after
         FROM ledger.transfers t
         JOIN ledger.postings p ON p.transfer_id = t.id
         JOIN ledger.accounts a ON a.id = p.account_id
         WHERE t.idempotency_key = $1",
    )
    .bind(key)
    .fetch_all(conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut legs = rows
        .iter()
        .map(|row| {
            Ok(PostedLeg {
                account: Account {
                    kind: row.try_get("account_kind")?,
                    reference_id: row.try_get("account_reference")?,
                },
                amount: Pmp(row.try_get("amount")?),
                balance_after: row.try_get::<Option<i64>, _>("balance_after")?.map(Pmp),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    legs.sort_by_key(|l| l.account);
    Ok(Some(Transfer {
        id: first.try_get("id")?,
        kind: first.try_get("kind")?,
        reference: Reference {
            kind: first.try_get("reference_kind")?,
            id: first.try_get("reference_id")?,
        },
        memo: first.try_get("memo")?,
        created_at: first.try_get("created_at")?,
        legs,
        replayed: true,
    }))
}

fn same_or_conflict(
    existing: Transfer,
    entry: &Entry,
    legs: &BTreeMap<Account, i64>,
    key: &str,
) -> Result<Transfer> {
    let same_legs = existing.legs.len() == legs.len()
        && existing
            .legs
            .iter()
            .all(|l| legs.get(&l.account) == Some(&l.amount.0));
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
                amount: Pmp(-5),
            },
            Leg {
                account: b,
                amount: Pmp(3),
            },
            Leg {
                account: b,
                amount: Pmp(2),
            },
        ])
        .unwrap();
        assert_eq!(net.get(&a), Some(&-5));
        assert_eq!(net.get(&b), Some(&5));
        assert!(matches!(
            net_legs(&[Leg {
                account: a,
                amount: Pmp(1)
            }]),
            Err(LedgerError::Unbalanced(1))
        ));
        assert!(matches!(
            net_legs(&[
                Leg {
                    account: a,
                    amount: Pmp(1)
                },
                Leg {
                    account: a,
                    amount: Pmp(-1)
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
                amount: Pmp(i64::MIN),
            },
            Leg {
                account: b,
                amount: Pmp(i64::MAX),
            },
            Leg {
                account: b,
                amount: Pmp(1),
            },
        ]);
        assert!(matches!(r, Err(LedgerError::Overflow)));
    }
}
