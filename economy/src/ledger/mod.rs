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

mod accounts;
mod audit;
mod history;
mod transfers;

pub use accounts::{balance, escrow_account, open_user_account};
pub use audit::{Audit, audit};
pub use history::{HistoryEntry, history};
pub use transfers::{grant_signup, post, transfer, transfer_between_open_accounts};

use chrono::{DateTime, Utc};
use posmul_core::money::Pmp;
use serde::{Deserialize, Serialize};
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
                    amount: Pmp::new(r.amount.get().saturating_neg()),
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
