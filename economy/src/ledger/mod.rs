//! The ledger (DESIGN.md E1, E2, E4): the only way PMP and KRW move.
//!
//! One ledger, two currencies. An account's currency follows from its kind
//! ([`AccountKind::currency`]); a transfer moves one currency only, and its postings sum to zero
//! in it. PMP moves through [`transfer`] and [`post`] with [`Pmp`] amounts; KRW through
//! [`post_krw`] with [`Krw`] amounts; each refuses an account of the other currency
//! ([`LedgerError::WrongCurrency`]). Both share one write path, so every guarantee below holds
//! for both.
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

pub use accounts::{balance, balance_krw, escrow_account, open_user_account};
pub use audit::{Audit, audit, currency_totals};
pub use history::{HistoryEntry, history};
pub use transfers::{grant_signup, post, post_krw, transfer, transfer_between_open_accounts};

use chrono::{DateTime, Utc};
use posmul_core::money::{Krw, Pmp};
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
    /// KRW: the other side of money arriving from payment providers (a singleton). Its balance
    /// is minus what the providers hold for the platform, so like issuance it is not cached.
    KrwProviderClearing,
    /// KRW: a funding project's contributions held until its deadline; the reference is the
    /// project id (I3).
    KrwEscrow,
    /// KRW: what the platform owes a merchant; the reference is the merchant's user id.
    KrwMerchantPayable,
    /// KRW: refunds owed and not yet completed by a provider (a singleton).
    KrwRefunds,
    /// KRW: the platform's revenue, what advertisers paid for ad budgets (a singleton; I1).
    KrwRevenue,
}

/// The currency an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Pmp,
    Krw,
}

impl Currency {
    pub const fn as_str(self) -> &'static str {
        match self {
            Currency::Pmp => "PMP",
            Currency::Krw => "KRW",
        }
    }
}

impl AccountKind {
    fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Issuance => "issuance",
            AccountKind::Burn => "burn",
            AccountKind::GameEscrow => "game_escrow",
            AccountKind::CampaignBudget => "campaign_budget",
            AccountKind::KrwProviderClearing => "krw_provider_clearing",
            AccountKind::KrwEscrow => "krw_escrow",
            AccountKind::KrwMerchantPayable => "krw_merchant_payable",
            AccountKind::KrwRefunds => "krw_refunds",
            AccountKind::KrwRevenue => "krw_revenue",
        }
    }

    /// The currency of accounts of this kind (the database derives the same from the name).
    pub const fn currency(self) -> Currency {
        match self {
            AccountKind::User
            | AccountKind::Issuance
            | AccountKind::Burn
            | AccountKind::GameEscrow
            | AccountKind::CampaignBudget => Currency::Pmp,
            AccountKind::KrwProviderClearing
            | AccountKind::KrwEscrow
            | AccountKind::KrwMerchantPayable
            | AccountKind::KrwRefunds
            | AccountKind::KrwRevenue => Currency::Krw,
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

    /// KRW arriving from payment providers (may go negative).
    pub const KRW_PROVIDER_CLEARING: Account = Account {
        kind: AccountKind::KrwProviderClearing,
        reference_id: SINGLETON,
    };
    /// KRW refunds owed and not yet completed by a provider.
    pub const KRW_REFUNDS: Account = Account {
        kind: AccountKind::KrwRefunds,
        reference_id: SINGLETON,
    };

    /// The platform's KRW revenue: ad budgets paid (I1).
    pub const KRW_REVENUE: Account = Account {
        kind: AccountKind::KrwRevenue,
        reference_id: SINGLETON,
    };

    /// A funding project's KRW escrow (I3).
    pub fn krw_escrow(project_id: Uuid) -> Account {
        Account {
            kind: AccountKind::KrwEscrow,
            reference_id: project_id,
        }
    }

    /// What the platform owes a merchant, in KRW.
    pub fn krw_merchant_payable(merchant_id: Uuid) -> Account {
        Account {
            kind: AccountKind::KrwMerchantPayable,
            reference_id: merchant_id,
        }
    }

    /// The account's currency.
    pub const fn currency(self) -> Currency {
        self.kind.currency()
    }

    /// Only the sources (PMP issuance, KRW provider clearing) may go negative; they have no
    /// cached balance.
    fn is_uncached(self) -> bool {
        matches!(
            self.kind,
            AccountKind::Issuance | AccountKind::KrwProviderClearing
        )
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
    /// KRW: a paid payment (provider clearing → its target account, I4).
    PaymentCapture,
    /// KRW: a refund of a paid payment (its target account → provider clearing, I4).
    PaymentRefund,
    /// KRW: a funded project's escrow released to its creator (escrow → merchant payable, I3).
    EscrowRelease,
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
    /// A KRW payment (I4).
    Payment,
    /// A Cloud Funding project (I3).
    Project,
    /// A contribution to a Cloud Funding project (I3).
    Contribution,
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

/// One side of a KRW movement: `amount` is added to `account` (negative: taken from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KrwLeg {
    pub account: Account,
    pub amount: Krw,
}

/// A KRW movement: legs summing to zero, every account a KRW one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrwEntry {
    pub legs: Vec<KrwLeg>,
    pub kind: TransferKind,
    pub reference: Reference,
    pub idempotency_key: Option<String>,
    pub memo: Option<String>,
}

impl KrwEntry {
    /// A two-sided movement of a positive `amount` from one KRW account to another.
    pub fn between(
        from: Account,
        to: Account,
        amount: Krw,
        kind: TransferKind,
        reference: Reference,
        idempotency_key: Option<String>,
    ) -> Result<KrwEntry> {
        if !amount.is_positive() {
            return Err(LedgerError::NonPositiveKrw(amount));
        }
        if from == to {
            return Err(LedgerError::SameAccount);
        }
        let debit = amount.checked_neg().ok_or(LedgerError::Overflow)?;
        Ok(KrwEntry {
            legs: vec![
                KrwLeg {
                    account: from,
                    amount: debit,
                },
                KrwLeg {
                    account: to,
                    amount,
                },
            ],
            kind,
            reference,
            idempotency_key,
            memo: None,
        })
    }
}

/// A written KRW transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrwTransfer {
    pub id: Uuid,
    pub kind: TransferKind,
    pub reference: Reference,
    pub created_at: DateTime<Utc>,
    /// Each account and the amount it received (negative: gave), ordered by account.
    pub legs: Vec<(Account, Krw)>,
    /// True when the transfer was already written under its idempotency key.
    pub replayed: bool,
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
    /// A KRW account holds less than the movement takes from it (E1, E4).
    #[error("insufficient KRW: the balance is {balance}, the transfer needs {requested}")]
    InsufficientKrw {
        account: Account,
        balance: Krw,
        requested: Krw,
    },
    /// KRW amounts moved are whole positive won.
    #[error("a KRW amount must be positive, got {0}")]
    NonPositiveKrw(Krw),
    /// A PMP movement named a KRW account or the other way round; a transfer moves one currency.
    #[error("{account:?} is not a {expected:?} account")]
    WrongCurrency {
        account: Account,
        expected: Currency,
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
