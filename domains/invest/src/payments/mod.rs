//! Payments (DESIGN.md I4, E4): KRW through a payment provider, as a state machine that only
//! moves forward, with the money in the ledger.
//!
//! One path changes a payment: [`apply`], called with the row locked, from a verified webhook,
//! from the server's own confirmation, or after an admin's refund at the provider. It asks
//! [`transition`] whether the move is allowed and posts the money in the same transaction: a
//! capture from provider clearing to the payment's target account, each refund back (E1, E4).
//! A move the machine refuses (a `paid` after `refunded`) changes nothing.

pub mod dev;
mod effects;
pub mod provider;
pub mod settings;
pub mod signature;
mod state;
pub mod stripe;
pub mod toss;

use chrono::{DateTime, Utc};
use posmul_core::money::Krw;
use posmul_economy::ledger::{
    self, Account, AccountKind, KrwEntry, Reference, ReferenceKind, TransferKind,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, PgTransaction};
use uuid::Uuid;

pub use provider::{
    Confirmation, Confirmed, NewPayment, Observed, Opened, PaymentProvider, ProviderError,
    ProviderKind, WebhookError, WebhookEvent,
};
pub use state::{PaymentState, Step, transition};

use crate::error::{InvestError, Result};

/// The enabled providers (see [`settings`]).
#[derive(Clone, Default)]
pub struct Payments {
    pub dev: Option<dev::DevProvider>,
    pub stripe: Option<stripe::StripeProvider>,
    pub toss: Option<toss::TossProvider>,
    /// The largest payment, in won.
    pub max_krw: i64,
}

/// Runs `$body` with `$p` bound to the enabled provider of `$kind`.
macro_rules! with_provider {
    ($self:expr, $kind:expr, |$p:ident| $body:expr) => {
        match $kind {
            ProviderKind::Dev => match &$self.dev {
                Some($p) => $body,
                None => Err(InvestError::ProviderNotEnabled($kind)),
            },
            ProviderKind::Stripe => match &$self.stripe {
                Some($p) => $body,
                None => Err(InvestError::ProviderNotEnabled($kind)),
            },
            ProviderKind::Toss => match &$self.toss {
                Some($p) => $body,
                None => Err(InvestError::ProviderNotEnabled($kind)),
            },
        }
    };
}

impl Payments {
    async fn open(&self, kind: ProviderKind, p: &NewPayment) -> Result<Opened> {
        with_provider!(self, kind, |x| Ok(x.open(p).await?))
    }

    async fn confirm(&self, kind: ProviderKind, c: &Confirmation) -> Result<Confirmed> {
        with_provider!(self, kind, |x| Ok(x.confirm(c).await?))
    }

    async fn refund(
        &self,
        kind: ProviderKind,
        id: &str,
        key: Option<&str>,
        amount: Krw,
        idempotency_key: &str,
    ) -> Result<Krw> {
        with_provider!(self, kind, |x| Ok(x
            .refund(id, key, amount, idempotency_key)
            .await?))
    }

    fn verify(
        &self,
        kind: ProviderKind,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent> {
        with_provider!(self, kind, |x| Ok(x.verify_webhook(headers, body, now)?))
    }
}

/// Where a paid payment's money goes (E4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    /// What the platform owes this merchant (store payments, ad budgets; I1, I2).
    MerchantPayable(Uuid),
    /// A funding project's escrow (I3).
    Escrow(Uuid),
    /// A Major League campaign's budget (I1): the KRW goes to the platform's revenue, the PMP
    /// it buys is issued into the campaign's budget when paid.
    CampaignFunding(Uuid),
}

impl Target {
    pub fn account(self) -> Account {
        match self {
            Target::MerchantPayable(id) => Account::krw_merchant_payable(id),
            Target::Escrow(id) => Account::krw_escrow(id),
            Target::CampaignFunding(_) => Account::KRW_REVENUE,
        }
    }

    fn parts(self) -> (&'static str, Uuid) {
        match self {
            Target::MerchantPayable(id) => ("krw_merchant_payable", id),
            Target::Escrow(id) => ("krw_escrow", id),
            Target::CampaignFunding(id) => ("campaign_funding", id),
        }
    }

    fn from_parts(kind: &str, id: Uuid) -> Target {
        match kind {
            "krw_escrow" => Target::Escrow(id),
            "campaign_funding" => Target::CampaignFunding(id),
            _ => Target::MerchantPayable(id),
        }
    }
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: ProviderKind,
    pub provider_payment_id: String,
    pub provider_payment_key: Option<String>,
    pub target: Target,
    pub amount: Krw,
    pub refunded: Krw,
    pub state: PaymentState,
    pub client_secret: Option<String>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The Local League store paid at (I2).
    pub store_id: Option<Uuid>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The payment moved (and its money with it).
    Applied,
    /// Nothing to do: the payment is already there (a duplicate) or the provider still waits.
    Unchanged,
    /// The machine refuses the move (out of order: `paid` after `refunded`): nothing changed.
    OutOfOrder,
    /// The provider's amounts do not fit the payment: nothing changed, logged as an error.
    Mismatch,
    /// No payment of ours has this provider id: recorded, nothing changed.
    UnknownPayment,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::OutOfOrder => "out_of_order",
            Outcome::Mismatch => "mismatch",
            Outcome::UnknownPayment => "unknown_payment",
        }
    }
}

macro_rules! payment_row {
    ($r:expr) => {
        Payment {
            id: $r.id,
            user_id: $r.user_id,
            provider: $r.provider,
            provider_payment_id: $r.provider_payment_id,
            provider_payment_key: $r.provider_payment_key,
            target: Target::from_parts(&$r.target_kind, $r.target_id),
            amount: Krw::new($r.amount),
            refunded: Krw::new($r.refunded),
            state: $r.state,
            client_secret: $r.client_secret,
            description: $r.description,
            created_at: $r.created_at,
            paid_at: $r.paid_at,
            store_id: $r.store_id,
        }
    };
}

/// The payment `id`, locked for the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Payment>> {
    let row = sqlx::query!(
        r#"SELECT id, user_id, provider AS "provider: ProviderKind", provider_payment_id,
                  provider_payment_key, target_kind, target_id, amount, refunded,
                  state AS "state: PaymentState", client_secret, description, created_at, paid_at,
                  store_id
           FROM invest.payments WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| payment_row!(r)))
}

/// The payment a provider's id names, locked for the caller's transaction.
async fn lock_by_provider_id(
    conn: &mut PgConnection,
    provider: ProviderKind,
    provider_payment_id: &str,
) -> Result<Option<Payment>> {
    let row = sqlx::query!(
        r#"SELECT id, user_id, provider AS "provider: ProviderKind", provider_payment_id,
                  provider_payment_key, target_kind, target_id, amount, refunded,
                  state AS "state: PaymentState", client_secret, description, created_at, paid_at,
                  store_id
           FROM invest.payments WHERE provider = $1 AND provider_payment_id = $2 FOR UPDATE"#,
        provider as _,
        provider_payment_id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| payment_row!(r)))
}

/// A citizen's payment (none for another's).
pub async fn get(db: &PgPool, user_id: Uuid, id: Uuid) -> Result<Payment> {
    let row = sqlx::query!(
        r#"SELECT id, user_id, provider AS "provider: ProviderKind", provider_payment_id,
                  provider_payment_key, target_kind, target_id, amount, refunded,
                  state AS "state: PaymentState", client_secret, description, created_at, paid_at,
                  store_id
           FROM invest.payments WHERE id = $1 AND user_id = $2"#,
        id,
        user_id,
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| payment_row!(r))
        .ok_or(InvestError::PaymentNotFound)
}

/// A payment to create.
#[derive(Debug, Clone)]
pub struct NewPaymentRequest {
    pub provider: ProviderKind,
    pub amount: Krw,
    pub target: Target,
    pub description: String,
    /// The Local League store paid at (I2), one of the target merchant's.
    pub store_id: Option<Uuid>,
}

/// Opens the payment at its provider and stores it as `created`, in `tx`. The dev provider
/// approves at once, so a dev payment comes back `paid`.
pub async fn create(
    tx: &mut PgTransaction<'_>,
    payments: &Payments,
    now: DateTime<Utc>,
    user_id: Uuid,
    req: &NewPaymentRequest,
) -> Result<Payment> {
    if !(1..=payments.max_krw).contains(&req.amount.get()) {
        return Err(InvestError::AmountOutOfRange {
            max: payments.max_krw,
        });
    }
    if req.description.chars().count() > 200 {
        return Err(InvestError::DescriptionTooLong);
    }
    if let Target::MerchantPayable(merchant) = req.target {
        let is_merchant = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM auth.user_roles WHERE user_id = $1 AND role IN ('merchant', 'admin')) AS "x!""#,
            merchant,
        )
        .fetch_one(&mut **tx)
        .await?;
        if !is_merchant {
            return Err(InvestError::TargetNotMerchant);
        }
    }
    if let Some(store_id) = req.store_id {
        let store = crate::stores::get(&mut **tx, store_id).await?;
        if store.verified_at.is_none() {
            return Err(InvestError::StoreNotVerified);
        }
        // A store's payments go to its own merchant, so a review's proof of purchase is real.
        if req.target != Target::MerchantPayable(store.merchant_id) {
            return Err(InvestError::InvalidField(
                "store_id",
                "a store of the merchant paid",
            ));
        }
    }
    let id = Uuid::now_v7();
    let opened = payments
        .open(
            req.provider,
            &NewPayment {
                payment_id: id,
                amount: req.amount,
                description: req.description.clone(),
            },
        )
        .await?;
    let (target_kind, target_id) = req.target.parts();
    sqlx::query!(
        "INSERT INTO invest.payments (id, user_id, provider, provider_payment_id, target_kind, target_id,
                                      amount, client_secret, description, created_at, store_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        id,
        user_id,
        req.provider as _,
        opened.provider_payment_id,
        target_kind,
        target_id,
        req.amount.get(),
        opened.client_secret,
        req.description,
        now,
        req.store_id,
    )
    .execute(&mut **tx)
    .await?;
    let mut payment = lock(tx, id).await?.ok_or(InvestError::PaymentNotFound)?;
    if req.provider == ProviderKind::Dev {
        let confirmed = payments
            .confirm(
                ProviderKind::Dev,
                &Confirmation {
                    provider_payment_id: payment.provider_payment_id.clone(),
                    payment_key: None,
                    amount: payment.amount,
                },
            )
            .await?;
        apply(tx, &mut payment, confirmed.observed, now).await?;
    }
    Ok(payment)
}

/// Confirms a citizen's payment with its provider, server to server (Toss-style: the client's
/// payment key and the amount; the others: reads the provider's state), and applies the answer.
pub async fn confirm(
    db: &PgPool,
    payments: &Payments,
    now: DateTime<Utc>,
    user_id: Uuid,
    id: Uuid,
    payment_key: Option<String>,
    amount: Option<Krw>,
) -> Result<(Payment, Outcome)> {
    let mut tx = db.begin().await?;
    // The row stays locked during the provider call, so two confirmations cannot both apply.
    let mut payment = lock(&mut tx, id)
        .await?
        .filter(|p| p.user_id == user_id)
        .ok_or(InvestError::PaymentNotFound)?;
    if let Some(amount) = amount
        && amount != payment.amount
    {
        return Err(InvestError::AmountMismatch {
            expected: payment.amount,
            confirmed: amount,
        });
    }
    if payment.state != PaymentState::Created {
        return Ok((payment, Outcome::Unchanged));
    }
    let confirmed = payments
        .confirm(
            payment.provider,
            &Confirmation {
                provider_payment_id: payment.provider_payment_id.clone(),
                payment_key: payment_key.or_else(|| payment.provider_payment_key.clone()),
                amount: payment.amount,
            },
        )
        .await?;
    if let Some(key) = &confirmed.payment_key
        && payment.provider_payment_key.as_ref() != Some(key)
    {
        sqlx::query!(
            "UPDATE invest.payments SET provider_payment_key = $2, updated_at = now() WHERE id = $1",
            id,
            key,
        )
        .execute(&mut *tx)
        .await?;
        payment.provider_payment_key = Some(key.clone());
    }
    let outcome = apply(&mut tx, &mut payment, confirmed.observed, now).await?;
    tx.commit().await?;
    Ok((payment, outcome))
}

/// Refunds `amount` of a paid payment at its provider, then in the ledger, in `tx` (an admin's
/// act, audited by the caller). The row stays locked during the provider call, so concurrent
/// refunds of one payment happen one after the other and never exceed it.
pub async fn refund(
    tx: &mut PgTransaction<'_>,
    payments: &Payments,
    now: DateTime<Utc>,
    id: Uuid,
    amount: Krw,
    idempotency_key: &str,
) -> Result<Payment> {
    let mut payment = lock(tx, id).await?.ok_or(InvestError::PaymentNotFound)?;
    // Ad budgets are not refunded once paid (I1): the PMP may already be reserved or paid out.
    if let Target::CampaignFunding(campaign) = payment.target {
        return Err(InvestError::CampaignFundingNotRefundable(campaign));
    }
    if !matches!(
        payment.state,
        PaymentState::Paid | PaymentState::PartiallyRefunded
    ) {
        return Err(InvestError::NotRefundable(payment.state));
    }
    let left = payment
        .amount
        .checked_sub(payment.refunded)
        .ok_or(InvestError::Ledger(ledger::LedgerError::Overflow))?;
    if !amount.is_positive() || amount > left {
        return Err(InvestError::RefundExceedsPayment { left });
    }
    // The money must still be where the payment put it (a funded project's escrow has gone to
    // its creator, I3): checked before the provider moves anything, with the account locked so
    // that a settlement or another refund cannot take it meanwhile (lock order: the payment,
    // then its account).
    let (kind, reference) = payment.target.parts();
    let held = sqlx::query_scalar!(
        "SELECT balance FROM ledger.accounts WHERE kind = $1 AND reference_id = $2 FOR UPDATE",
        kind,
        reference,
    )
    .fetch_optional(&mut **tx)
    .await?
    .flatten()
    .map_or(Krw::ZERO, Krw::new);
    if held < amount {
        return Err(InvestError::RefundNotHeld { held });
    }
    let refunded = payments
        .refund(
            payment.provider,
            &payment.provider_payment_id,
            payment.provider_payment_key.as_deref(),
            amount,
            idempotency_key,
        )
        .await?;
    let total = payment
        .refunded
        .checked_add(refunded)
        .ok_or(InvestError::Ledger(ledger::LedgerError::Overflow))?;
    let observed = Observed::Refunded {
        amount: payment.amount,
        total_refunded: total,
    };
    let outcome = apply(tx, &mut payment, observed, now).await?;
    if outcome != Outcome::Applied {
        tracing::error!(payment = %id, outcome = outcome.as_str(), "a refund done at the provider did not apply");
    }
    Ok(payment)
}

/// What a webhook did (its response body).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// True when this event was received before and nothing was done again.
    pub duplicate: bool,
    pub outcome: Outcome,
}

/// Receives a webhook (I4): verified by signature and time, refused when replayed, recorded
/// once by event id, applied through [`apply`]. Refusals are returned for the caller to log and
/// audit.
pub async fn receive_webhook(
    db: &PgPool,
    payments: &Payments,
    kind: ProviderKind,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookReceipt> {
    let event = payments.verify(kind, headers, body, now)?;
    let mut tx = db.begin().await?;
    let signature_hash = Sha256::digest(event.signature.as_bytes()).to_vec();
    let fresh_signature = sqlx::query!(
        "INSERT INTO invest.webhook_signatures (provider, signature_hash) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        kind as _,
        signature_hash,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh_signature {
        return Err(WebhookError::Replayed.into());
    }
    let seen = sqlx::query_scalar!(
        r#"SELECT outcome FROM invest.webhook_events WHERE provider = $1 AND event_id = $2"#,
        kind as _,
        event.event_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if seen.is_some() {
        tx.commit().await?;
        return Ok(WebhookReceipt {
            duplicate: true,
            outcome: Outcome::Unchanged,
        });
    }
    // Locking the payment serializes concurrent deliveries of its events; the event row below
    // then admits exactly one of two duplicates.
    let mut payment = lock_by_provider_id(&mut tx, kind, &event.provider_payment_id).await?;
    let outcome = match &mut payment {
        Some(p) => apply(&mut tx, p, event.observed, now).await?,
        None => Outcome::UnknownPayment,
    };
    let recorded = sqlx::query!(
        "INSERT INTO invest.webhook_events (provider, event_id, provider_payment_id, payment_id, event_type, outcome)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        kind as _,
        event.event_id,
        event.provider_payment_id,
        payment.as_ref().map(|p| p.id),
        event.event_type,
        outcome.as_str(),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !recorded {
        // A concurrent delivery of the same event won: undo ours (the signature too; it stays
        // unique to that delivery) and answer as a duplicate.
        tx.rollback().await?;
        return Ok(WebhookReceipt {
            duplicate: true,
            outcome: Outcome::Unchanged,
        });
    }
    tx.commit().await?;
    match outcome {
        Outcome::UnknownPayment => tracing::warn!(
            provider = kind.as_str(),
            event = %event.event_id,
            "a webhook names no payment of ours"
        ),
        Outcome::OutOfOrder => tracing::info!(
            provider = kind.as_str(),
            event = %event.event_id,
            "a webhook arrived out of order and changed nothing"
        ),
        _ => {}
    }
    Ok(WebhookReceipt {
        duplicate: false,
        outcome,
    })
}

/// The one path that changes a payment (I4): moves `payment` (locked by the caller in `tx`) to
/// what the provider observed, if [`transition`] allows it, and posts the money (E4).
pub async fn apply(
    tx: &mut PgTransaction<'_>,
    payment: &mut Payment,
    observed: Observed,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let reference = Reference {
        kind: ReferenceKind::Payment,
        id: payment.id,
    };
    match observed {
        Observed::Pending => Ok(Outcome::Unchanged),
        Observed::Failed | Observed::Cancelled => {
            let to = if observed == Observed::Failed {
                PaymentState::Failed
            } else {
                PaymentState::Cancelled
            };
            match transition(payment.state, to) {
                Step::Move => {
                    set_state(tx, payment, to, payment.refunded, None).await?;
                    Ok(Outcome::Applied)
                }
                Step::Stay => Ok(Outcome::Unchanged),
                Step::Refused => Ok(Outcome::OutOfOrder),
            }
        }
        Observed::Paid { amount } => {
            match transition(payment.state, PaymentState::Paid) {
                Step::Move => {}
                Step::Stay => return Ok(Outcome::Unchanged),
                Step::Refused => return Ok(Outcome::OutOfOrder),
            }
            if amount != payment.amount {
                tracing::error!(payment = %payment.id, expected = payment.amount.get(), paid = amount.get(),
                    "the provider captured another amount than the payment's");
                return Ok(Outcome::Mismatch);
            }
            capture(tx, payment, reference, now).await?;
            effects::on_paid(tx, payment, now).await?;
            Ok(Outcome::Applied)
        }
        Observed::Refunded {
            amount,
            total_refunded,
        } => {
            if amount != payment.amount
                || !total_refunded.is_positive()
                || total_refunded > payment.amount
            {
                tracing::error!(payment = %payment.id, expected = payment.amount.get(), amount = amount.get(),
                    refunded = total_refunded.get(), "a refund's amounts do not fit the payment");
                return Ok(Outcome::Mismatch);
            }
            if payment.state == PaymentState::Created {
                // A refund reported before its capture: the payment was paid, so book that first.
                capture(tx, payment, reference, now).await?;
                effects::on_paid(tx, payment, now).await?;
            }
            let to = if total_refunded == payment.amount {
                PaymentState::Refunded
            } else {
                PaymentState::PartiallyRefunded
            };
            match transition(payment.state, to) {
                Step::Move if total_refunded > payment.refunded => {}
                Step::Move | Step::Stay => return Ok(Outcome::Unchanged),
                Step::Refused => return Ok(Outcome::OutOfOrder),
            }
            let delta = total_refunded
                .checked_sub(payment.refunded)
                .ok_or(InvestError::Ledger(ledger::LedgerError::Overflow))?;
            ledger::post_krw(
                tx,
                KrwEntry::between(
                    payment.target.account(),
                    Account::KRW_PROVIDER_CLEARING,
                    delta,
                    TransferKind::PaymentRefund,
                    reference,
                    Some(format!(
                        "payment:{}:refunded:{}",
                        payment.id,
                        total_refunded.get()
                    )),
                )?,
            )
            .await?;
            set_state(tx, payment, to, total_refunded, payment.paid_at).await?;
            effects::on_refunded(tx, payment, delta, now).await?;
            Ok(Outcome::Applied)
        }
    }
}

/// Books a capture: provider clearing → the target account, once (keyed by the payment).
async fn capture(
    tx: &mut PgTransaction<'_>,
    payment: &mut Payment,
    reference: Reference,
    now: DateTime<Utc>,
) -> Result<()> {
    ledger::post_krw(
        tx,
        KrwEntry::between(
            Account::KRW_PROVIDER_CLEARING,
            payment.target.account(),
            payment.amount,
            TransferKind::PaymentCapture,
            reference,
            Some(format!("payment:{}:paid", payment.id)),
        )?,
    )
    .await?;
    set_state(tx, payment, PaymentState::Paid, Krw::ZERO, Some(now)).await
}

async fn set_state(
    tx: &mut PgTransaction<'_>,
    payment: &mut Payment,
    state: PaymentState,
    refunded: Krw,
    paid_at: Option<DateTime<Utc>>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE invest.payments SET state = $2, refunded = $3, paid_at = $4, updated_at = now() WHERE id = $1",
        payment.id,
        state as _,
        refunded.get(),
        paid_at,
    )
    .execute(&mut **tx)
    .await?;
    payment.state = state;
    payment.refunded = refunded;
    payment.paid_at = paid_at;
    Ok(())
}

/// The ledger balance of a payment target (tests and views).
pub async fn target_balance(conn: &mut PgConnection, target: Target) -> Result<Krw> {
    Ok(ledger::balance_krw(conn, target.account()).await?)
}

/// Account kinds a payment may target (for documentation and checks).
pub const TARGET_KINDS: [AccountKind; 3] = [
    AccountKind::KrwMerchantPayable,
    AccountKind::KrwEscrow,
    AccountKind::KrwRevenue,
];

/// Forgets the accepted webhook signatures received before `before` (wall-clock time, like
/// `received_at`). Safe once `before` is older than the timestamp tolerance: a delivery signed
/// that long ago is refused as stale before its signature is looked up. Returns how many.
pub async fn prune_signatures(db: &PgPool, before: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM invest.webhook_signatures WHERE received_at < $1",
        before
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// Prunes the signatures hourly, keeping twice the webhook `tolerance` (room for clock skew
/// between the provider and us).
pub fn spawn_signature_pruner(
    db: PgPool,
    tolerance: chrono::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = Utc::now() - tolerance * 2;
            match prune_signatures(&db, before).await {
                Ok(n) => tracing::debug!(pruned = n, "webhook signatures pruned"),
                Err(e) => tracing::warn!(error = %e, "pruning webhook signatures failed"),
            }
        }
    })
}
