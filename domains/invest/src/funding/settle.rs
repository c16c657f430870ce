//! The settlement of projects at their deadline (I3), exactly once, and the refunds of failed
//! projects, retried until done.
//!
//! [`settle_due`] settles each approved project whose deadline has passed in its own
//! transaction: a per-project advisory lock and the project row `FOR UPDATE` (which waits for
//! payments holding it `FOR SHARE`), then the outcome is recorded in the same transaction as
//! its money. Funded: the held contributions become `counted`, the escrow is released to the
//! creator's payable (one KRW posting), and each contributor gets PMC credits at the funding
//! rate in force on the deadline's day (keyed `funding:<contribution id>`, through
//! `credits::debts::issue`, so an outstanding PMC debt is repaid from them first). Failed: the held
//! contributions become `refunding`. A second run finds the project settled and does nothing.
//!
//! [`refund_pending`] refunds each `refunding` contribution through its provider, each in its
//! own transaction (the provider's refund key is the contribution's, so a retry is the same
//! refund). A failure is recorded (attempts, error) and retried after a backoff.
//!
//! The server runs both every `FUNDING_SETTLE_INTERVAL_SECS` ([`spawn`]); admins run them at
//! once with `POST /v1/admin/funding/settle`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use posmul_api_kit::{audit, auth::extract::RequestMeta};
use posmul_core::{Clock, money::Krw};
use posmul_economy::{
    credits::{CreditRequest, CreditSource, debts},
    ledger::{self, Account, KrwEntry, LedgerError, Reference, ReferenceKind, TransferKind},
    rates,
};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ContributionState, ProjectState};
use crate::{
    error::{InvestError, Result},
    payments::{self, Payments},
};

/// The most projects one run settles (the next run takes the rest).
const BATCH: i64 = 100;
/// The most refunds one run attempts.
const REFUND_BATCH: i64 = 500;
/// The first retry of a failed refund waits this long, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::seconds(30);
const MAX_BACKOFF: Duration = Duration::hours(1);

/// One settled project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Settled {
    pub project_id: Uuid,
    /// `funded` or `failed`.
    pub outcome: ProjectState,
    /// Won counted: paid into escrow before the deadline and the settlement.
    pub raised_krw: i64,
    pub goal_krw: i64,
    /// Contributions counted (funded) or to refund (failed).
    pub contributions: usize,
}

/// What [`refund_pending`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Refunds {
    /// Contributions refunded in full.
    pub refunded: usize,
    /// Refunds the provider did not do this time (retried later).
    pub failed: usize,
}

/// Settles every approved project whose deadline is at or before `now`, each exactly once.
/// A project that cannot be settled now (a database error) is logged and left for the next
/// run.
#[tracing::instrument(skip_all, fields(%now), err(Debug))]
pub async fn settle_due(db: &PgPool, now: DateTime<Utc>) -> Result<Vec<Settled>> {
    let due = sqlx::query_scalar!(
        "SELECT id FROM invest.projects WHERE state = 'approved' AND deadline <= $1
         ORDER BY deadline, id LIMIT $2",
        now,
        BATCH,
    )
    .fetch_all(db)
    .await?;
    let mut settled = Vec::with_capacity(due.len());
    for id in due {
        match settle_one(db, now, id).await {
            Ok(Some(s)) => settled.push(s),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(project = %id, error = %e, "settling a project failed; the next run retries");
            }
        }
    }
    Ok(settled)
}

/// Settles one project if it is due and not settled yet (`None` otherwise: another run did it).
pub async fn settle_one(db: &PgPool, now: DateTime<Utc>, id: Uuid) -> Result<Option<Settled>> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('invest.projects:settle:' || $1::UUID::TEXT, 0))",
        id,
    )
    .execute(&mut *tx)
    .await?;
    // The escrow account before the project: the order payments take them in.
    super::lock_escrow(&mut tx, id).await?;
    let project = sqlx::query!(
        r#"SELECT creator_id, goal_krw, deadline, state AS "state: ProjectState"
           FROM invest.projects WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(InvestError::ProjectNotFound)?;
    if project.state != ProjectState::Approved || project.deadline > now {
        return Ok(None);
    }
    // Every payment that got the project's lock before us is held (paid before the deadline)
    // or refunding (late); every later one will find the project settled.
    let held = sqlx::query!(
        "SELECT id, user_id, amount_krw - refunded_krw AS \"counted!\" FROM invest.contributions
         WHERE project_id = $1 AND state = 'held' ORDER BY id FOR UPDATE",
        id,
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut raised = Krw::ZERO;
    for c in &held {
        raised = raised
            .checked_add(Krw::new(c.counted))
            .ok_or(InvestError::Ledger(LedgerError::Overflow))?;
    }
    let funded = raised.get() >= project.goal_krw;
    let project_ref = Reference {
        kind: ReferenceKind::Project,
        id,
    };
    if funded {
        ledger::post_krw(
            &mut tx,
            KrwEntry::between(
                Account::krw_escrow(id),
                Account::krw_merchant_payable(project.creator_id),
                raised,
                TransferKind::EscrowRelease,
                project_ref,
                Some(format!("funding:{id}:release")),
            )?,
        )
        .await?;
        // The rate known before the deadline's day began (E3), whenever the settlement runs.
        let rate = rates::in_force(&mut *tx, project.deadline.date_naive())
            .await?
            .funding_pmc_per_krw;
        for c in &held {
            let amount = rates::wei_for_krw(Krw::new(c.counted), &[rate])
                .ok_or(InvestError::ConversionOverflow)?;
            if !amount.is_zero() {
                // A citizen's outstanding PMC debt (I2) is repaid from it first.
                debts::issue(
                    &mut tx,
                    CreditRequest {
                        user_id: c.user_id,
                        source: CreditSource::CloudFunding,
                        amount,
                        day: now.date_naive(),
                        reference: Reference {
                            kind: ReferenceKind::Contribution,
                            id: c.id,
                        },
                        idempotency_key: format!("funding:{}", c.id),
                        wave_eligible_at: None,
                    },
                )
                .await?;
            }
        }
        sqlx::query!(
            "UPDATE invest.contributions SET state = 'counted', updated_at = now()
             WHERE project_id = $1 AND state = 'held'",
            id,
        )
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query!(
            "UPDATE invest.contributions SET state = 'refunding', refund_next_at = $2, updated_at = now()
             WHERE project_id = $1 AND state = 'held'",
            id,
            now,
        )
        .execute(&mut *tx)
        .await?;
    }
    let outcome = if funded {
        ProjectState::Funded
    } else {
        ProjectState::Failed
    };
    sqlx::query!(
        "UPDATE invest.projects SET state = $2, settled_at = $3, raised_krw = $4 WHERE id = $1",
        id,
        outcome as _,
        now,
        raised.get(),
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::FundingProjectSettled,
            actor: None,
            subject: Some(project.creator_id),
            meta: &RequestMeta::default(),
            details: serde_json::json!({
                "project_id": id, "outcome": outcome.as_str(), "raised_krw": raised.get(),
                "goal_krw": project.goal_krw, "contributions": held.len(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(project = %id, outcome = outcome.as_str(), raised = raised.get(), goal = project.goal_krw,
        "a funding project was settled");
    Ok(Some(Settled {
        project_id: id,
        outcome,
        raised_krw: raised.get(),
        goal_krw: project.goal_krw,
        contributions: held.len(),
    }))
}

/// The wait before retrying a refund that failed `attempts` times.
fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
    let wait = FIRST_BACKOFF * 2i32.pow(doublings);
    wait.min(MAX_BACKOFF)
}

/// Refunds through the provider every contribution marked `refunding` whose retry time has
/// come; a failure is recorded and retried later.
#[tracing::instrument(skip_all, fields(%now), err(Debug))]
pub async fn refund_pending(
    db: &PgPool,
    payments: &Payments,
    now: DateTime<Utc>,
) -> Result<Refunds> {
    let due = sqlx::query!(
        "SELECT id, payment_id FROM invest.contributions
         WHERE state = 'refunding' AND (refund_next_at IS NULL OR refund_next_at <= $1)
         ORDER BY refund_next_at, id LIMIT $2",
        now,
        REFUND_BATCH,
    )
    .fetch_all(db)
    .await?;
    let mut done = Refunds::default();
    for c in due {
        match refund_one(db, payments, now, c.id, c.payment_id).await {
            Ok(true) => done.refunded += 1,
            Ok(false) => {}
            Err(e) => {
                done.failed += 1;
                let attempts = sqlx::query_scalar!(
                    "UPDATE invest.contributions
                     SET refund_attempts = refund_attempts + 1, refund_error = left($2, 500), updated_at = now()
                     WHERE id = $1 AND state = 'refunding' RETURNING refund_attempts",
                    c.id,
                    e.to_string(),
                )
                .fetch_optional(db)
                .await?;
                if let Some(attempts) = attempts {
                    let next = now + backoff(attempts);
                    sqlx::query!(
                        "UPDATE invest.contributions SET refund_next_at = $2 WHERE id = $1",
                        c.id,
                        next,
                    )
                    .execute(db)
                    .await?;
                    tracing::warn!(contribution = %c.id, attempts, error = %e, retry_at = %next,
                        "a contribution's refund failed; it will be retried");
                }
            }
        }
    }
    Ok(done)
}

/// Refunds what is left of one `refunding` contribution; true when it is refunded in full now.
async fn refund_one(
    db: &PgPool,
    payments: &Payments,
    now: DateTime<Utc>,
    id: Uuid,
    payment_id: Uuid,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    // Lock order: the payment, the escrow, then the contribution.
    let payment = payments::lock(&mut tx, payment_id)
        .await?
        .ok_or(InvestError::PaymentNotFound)?;
    if let payments::Target::Escrow(project) = payment.target {
        super::lock_escrow(&mut tx, project).await?;
    }
    let contribution = sqlx::query!(
        r#"SELECT user_id, project_id, state AS "state: ContributionState" FROM invest.contributions
           WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if contribution.state != ContributionState::Refunding {
        return Ok(false);
    }
    let left = payment
        .amount
        .checked_sub(payment.refunded)
        .ok_or(InvestError::Ledger(LedgerError::Overflow))?;
    if !left.is_positive() {
        // Refunded in full already (an admin at the provider): nothing left to give back.
        sqlx::query!(
            "UPDATE invest.contributions SET state = 'refunded', refund_next_at = NULL, updated_at = now() WHERE id = $1",
            id,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(true);
    }
    // The same key for every retry of this amount: the provider refunds once.
    let key = format!("funding:refund:{id}:{}", left.get());
    let payment = payments::refund(&mut tx, payments, now, payment_id, left, &key).await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::FundingContributionRefunded,
            actor: None,
            subject: Some(contribution.user_id),
            meta: &RequestMeta::default(),
            details: serde_json::json!({
                "contribution_id": id, "project_id": contribution.project_id,
                "payment_id": payment_id, "amount": left.get(), "reason": "project_closed",
                "state": payment.state.as_str(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Runs [`settle_due`] and [`refund_pending`] every `interval` until aborted.
pub fn spawn(
    db: PgPool,
    clock: Clock,
    payments: Arc<Payments>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let now = clock.now().await;
            if let Err(e) = settle_due(&db, now).await {
                tracing::warn!(error = %e, "the funding settlement run failed");
            }
            if let Err(e) = refund_pending(&db, &payments, now).await {
                tracing::warn!(error = %e, "the funding refund run failed");
            }
        }
    })
}
