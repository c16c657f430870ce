//! Cloud Funding (DESIGN.md I3): a citizen proposes a project, a moderator approves it, citizens
//! contribute through a payment provider into the project's KRW escrow, and at the deadline the
//! project is settled once ([`settle`]): goal reached → funded (escrow released to the
//! creator's payable, PMC credits to each contributor), goal missed → failed (every
//! contribution refunded through the provider, retried until done).
//!
//! A contribution is a payment with [`Target::Escrow`]; its money moves only through the
//! payment machine ([`crate::payments::apply`]), which calls [`on_payment_paid`] and
//! [`on_payment_refunded`] in the payment's transaction. A contribution counts only when its
//! payment was paid (app clock) before the deadline and before the settlement took the
//! project's lock; one paid later is marked `refunding` and given back.
//!
//! An admin's refund of a held contribution's payment lowers what it counts for (it keeps
//! `refunded_krw`). Once a project is funded its escrow is released, so a refund of a counted
//! contribution finds no money in the escrow and the ledger refuses to book it.
//!
//! Locks are always taken in this order, so nothing waits in a circle: the payment, then the
//! project's escrow account in the ledger (a capture or a refund posts to it; the settlement
//! and cancellations lock it first), then the project (`FOR SHARE` by payments and
//! cancellations, `FOR UPDATE` by the settlement), then the contribution. A contribution
//! therefore reads its project unlocked before paying and decides held or late in
//! [`on_payment_paid`], after the capture.

pub mod routes;
pub mod settle;

use chrono::{DateTime, Duration, Utc};
use posmul_core::money::Krw;
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgTransaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::{InvestError, Result},
    payments::{self, NewPaymentRequest, Payment, PaymentState, Payments, ProviderKind, Target},
};

/// Every amount of a project (goal, minimum, maximum, contribution) is a multiple of this.
pub const STEP_KRW: i64 = 1_000;
/// The furthest deadline a proposal may set.
pub const MAX_DURATION_DAYS: i64 = 366;

/// Where a project is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ProjectState {
    /// Waiting for a moderator; takes no money.
    Proposed,
    /// Takes contributions until its deadline.
    Approved,
    /// Settled: the goal was reached; the escrow went to the creator.
    Funded,
    /// Settled: the goal was missed; every contribution is refunded.
    Failed,
}

impl ProjectState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProjectState::Proposed => "proposed",
            ProjectState::Approved => "approved",
            ProjectState::Funded => "funded",
            ProjectState::Failed => "failed",
        }
    }
}

/// Where a contribution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ContributionState {
    /// Its payment is not paid yet.
    Pending,
    /// Paid into the escrow before the deadline; counted at the settlement.
    Held,
    /// The project was funded: released to the creator, credits issued.
    Counted,
    /// Being refunded through the provider (the project failed, or the payment came too late);
    /// retried until done.
    Refunding,
    /// Refunded in full.
    Refunded,
    /// Cancelled by its contributor before the deadline, and refunded.
    Cancelled,
}

impl ContributionState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ContributionState::Pending => "pending",
            ContributionState::Held => "held",
            ContributionState::Counted => "counted",
            ContributionState::Refunding => "refunding",
            ContributionState::Refunded => "refunded",
            ContributionState::Cancelled => "cancelled",
        }
    }
}

/// A project. Amounts are whole won.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: Uuid,
    pub creator_id: Uuid,
    pub title: String,
    pub description: String,
    pub goal_krw: i64,
    pub min_contribution_krw: i64,
    pub max_contribution_krw: i64,
    pub deadline: DateTime<Utc>,
    pub state: ProjectState,
    pub approved_at: Option<DateTime<Utc>>,
    /// Won held in escrow so far; once settled, the won the settlement counted.
    pub raised_krw: i64,
    pub settled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A project to propose. Amounts are whole won in steps of 1,000.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub title: String,
    pub description: String,
    pub goal_krw: i64,
    pub min_contribution_krw: i64,
    pub max_contribution_krw: i64,
    /// After now, at most 366 days ahead.
    pub deadline: DateTime<Utc>,
}

fn check_new_project(p: &NewProject, now: DateTime<Utc>) -> Result<()> {
    let bad = |field: &'static str, why: &'static str| InvestError::InvalidField(field, why);
    if p.title.trim().is_empty() || p.title.chars().count() > 200 {
        return Err(bad("title", "1-200 characters"));
    }
    if p.description.trim().is_empty() || p.description.chars().count() > 10_000 {
        return Err(bad("description", "1-10000 characters"));
    }
    let step = |v: i64| v > 0 && v % STEP_KRW == 0;
    if !step(p.goal_krw) {
        return Err(bad("goal_krw", "a positive multiple of 1000 won"));
    }
    if !step(p.min_contribution_krw) {
        return Err(bad(
            "min_contribution_krw",
            "a positive multiple of 1000 won",
        ));
    }
    if !step(p.max_contribution_krw) || p.max_contribution_krw < p.min_contribution_krw {
        return Err(bad(
            "max_contribution_krw",
            "a multiple of 1000 won, at least the minimum",
        ));
    }
    if p.deadline <= now || p.deadline > now + Duration::days(MAX_DURATION_DAYS) {
        return Err(bad("deadline", "after now, at most 366 days ahead"));
    }
    Ok(())
}

/// Stores a proposal, waiting for a moderator.
pub async fn propose(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    creator: Uuid,
    p: &NewProject,
) -> Result<Project> {
    check_new_project(p, now)?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO invest.projects (id, creator_id, title, description, goal_krw,
                                      min_contribution_krw, max_contribution_krw, deadline, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        id,
        creator,
        p.title.trim(),
        p.description.trim(),
        p.goal_krw,
        p.min_contribution_krw,
        p.max_contribution_krw,
        p.deadline,
        now,
    )
    .execute(db)
    .await?;
    Ok(Project {
        id,
        creator_id: creator,
        title: p.title.trim().to_owned(),
        description: p.description.trim().to_owned(),
        goal_krw: p.goal_krw,
        min_contribution_krw: p.min_contribution_krw,
        max_contribution_krw: p.max_contribution_krw,
        deadline: p.deadline,
        state: ProjectState::Proposed,
        approved_at: None,
        raised_krw: 0,
        settled_at: None,
        created_at: now,
    })
}

/// Which projects [`select`] reads.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub id: Option<Uuid>,
    pub creator: Option<Uuid>,
    /// Empty: every state.
    pub states: Vec<ProjectState>,
}

/// Projects, newest first, at most `limit`.
pub async fn select(db: impl PgExecutor<'_>, f: &Filter, limit: i64) -> Result<Vec<Project>> {
    let states: Vec<String> = f.states.iter().map(|s| s.as_str().to_owned()).collect();
    let rows = sqlx::query_as!(
        Project,
        r#"SELECT p.id, p.creator_id, p.title, p.description, p.goal_krw, p.min_contribution_krw,
                  p.max_contribution_krw, p.deadline, p.state AS "state: ProjectState", p.approved_at,
                  COALESCE(p.raised_krw,
                           (SELECT SUM(c.amount_krw - c.refunded_krw) FROM invest.contributions c
                            WHERE c.project_id = p.id AND c.state IN ('held', 'counted'))::BIGINT,
                           0) AS "raised_krw!",
                  p.settled_at, p.created_at
           FROM invest.projects p
           WHERE ($1::UUID IS NULL OR p.id = $1)
             AND ($2::UUID IS NULL OR p.creator_id = $2)
             AND (cardinality($3::TEXT[]) = 0 OR p.state = ANY ($3))
           ORDER BY p.created_at DESC, p.id DESC
           LIMIT $4"#,
        f.id,
        f.creator,
        &states,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// One project, in any state.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Project> {
    select(
        db,
        &Filter {
            id: Some(id),
            ..Filter::default()
        },
        1,
    )
    .await?
    .pop()
    .ok_or(InvestError::ProjectNotFound)
}

/// Approves a proposal (a moderator's act, audited by the caller): it takes contributions from
/// now until its deadline.
pub async fn approve(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    moderator: Uuid,
    id: Uuid,
) -> Result<Project> {
    let updated = sqlx::query!(
        "UPDATE invest.projects SET state = 'approved', approved_at = $2, approved_by = $3
         WHERE id = $1 AND state = 'proposed' AND deadline > $2",
        id,
        now,
        moderator,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let project = get(&mut **tx, id).await?;
    if updated == 0 {
        return Err(InvestError::ProjectNotApprovable(
            if project.state == ProjectState::Proposed {
                "its deadline has passed"
            } else {
                "it is no longer a proposal"
            },
        ));
    }
    Ok(project)
}

/// Locks the project's escrow account in the ledger, if it exists yet (see the lock order in
/// the module's documentation).
pub(crate) async fn lock_escrow(tx: &mut PgTransaction<'_>, project_id: Uuid) -> Result<()> {
    sqlx::query!(
        "SELECT id FROM ledger.accounts WHERE kind = 'krw_escrow' AND reference_id = $1 FOR UPDATE",
        project_id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(())
}

/// The project's state and deadline, locked `FOR SHARE` (payments and cancellations; the
/// settlement's `FOR UPDATE` waits for them, and they for it).
async fn lock_project_shared(
    tx: &mut PgTransaction<'_>,
    id: Uuid,
) -> Result<(ProjectState, DateTime<Utc>)> {
    let row = sqlx::query!(
        r#"SELECT state AS "state: ProjectState", deadline FROM invest.projects WHERE id = $1 FOR SHARE"#,
        id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(InvestError::ProjectNotFound)?;
    Ok((row.state, row.deadline))
}

/// A contribution, as its contributor sees it. Amounts are whole won.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Contribution {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_title: String,
    pub user_id: Uuid,
    /// The payment (`GET /v1/payments/{id}` has what a client needs to finish it).
    pub payment_id: Uuid,
    pub payment_state: PaymentState,
    pub amount_krw: i64,
    pub refunded_krw: i64,
    pub state: ContributionState,
    pub paid_at: Option<DateTime<Utc>>,
    /// Failed refund attempts so far (a refund is retried until done).
    pub refund_attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// Contributions, newest first: one (`id`), or a contributor's, or a project's.
pub async fn contributions(
    db: impl PgExecutor<'_>,
    id: Option<Uuid>,
    user: Option<Uuid>,
    project: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Contribution>> {
    Ok(sqlx::query_as!(
        Contribution,
        r#"SELECT c.id, c.project_id, p.title AS project_title, c.user_id, c.payment_id,
                  pay.state AS "payment_state: PaymentState", c.amount_krw, c.refunded_krw,
                  c.state AS "state: ContributionState", c.paid_at, c.refund_attempts, c.created_at
           FROM invest.contributions c
           JOIN invest.projects p ON p.id = c.project_id
           JOIN invest.payments pay ON pay.id = c.payment_id
           WHERE ($1::UUID IS NULL OR c.id = $1)
             AND ($2::UUID IS NULL OR c.user_id = $2)
             AND ($3::UUID IS NULL OR c.project_id = $3)
           ORDER BY c.created_at DESC, c.id DESC
           LIMIT $4"#,
        id,
        user,
        project,
        limit,
    )
    .fetch_all(db)
    .await?)
}

async fn contribution(db: impl PgExecutor<'_>, id: Uuid) -> Result<Contribution> {
    contributions(db, Some(id), None, None, 1)
        .await?
        .pop()
        .ok_or(InvestError::ContributionNotFound)
}

/// Contributes `amount` won to an approved project before its deadline, through `provider`
/// (in `tx`, the caller's idempotent work). The dev provider pays at once; otherwise the
/// contribution is `pending` until its payment is paid.
pub async fn contribute(
    tx: &mut PgTransaction<'_>,
    payments: &Payments,
    now: DateTime<Utc>,
    user: Uuid,
    project_id: Uuid,
    provider: ProviderKind,
    amount: Krw,
) -> Result<Contribution> {
    // Read, not locked: the capture below locks the escrow account, which comes before the
    // project in the lock order. A payment that lands after the settlement is refunded.
    let row = sqlx::query!(
        r#"SELECT state AS "state: ProjectState", deadline, title, min_contribution_krw, max_contribution_krw
           FROM invest.projects WHERE id = $1"#,
        project_id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(InvestError::ProjectNotFound)?;
    let (state, deadline, title, min, max) = (
        row.state,
        row.deadline,
        row.title,
        row.min_contribution_krw,
        row.max_contribution_krw,
    );
    if state != ProjectState::Approved {
        return Err(InvestError::ProjectNotOpen(match state {
            ProjectState::Proposed => "it is not approved yet",
            _ => "it is settled",
        }));
    }
    if now >= deadline {
        return Err(InvestError::ProjectNotOpen("its deadline has passed"));
    }
    let a = amount.get();
    if a % STEP_KRW != 0 || a < min || a > max {
        return Err(InvestError::ContributionAmount { min, max });
    }
    let description: String = format!("Cloud Funding: {title}")
        .chars()
        .take(200)
        .collect();
    let payment = payments::create(
        tx,
        payments,
        now,
        user,
        &NewPaymentRequest {
            provider,
            amount,
            target: Target::Escrow(project_id),
            description,
            store_id: None,
        },
    )
    .await?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO invest.contributions (id, project_id, user_id, payment_id, amount_krw, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        project_id,
        user,
        payment.id,
        a,
        now,
    )
    .execute(&mut **tx)
    .await?;
    // A payment paid at once (dev) was paid before its contribution existed: record it now.
    if payment.state == PaymentState::Paid {
        on_payment_paid(tx, &payment, payment.paid_at.unwrap_or(now)).await?;
    }
    contribution(&mut **tx, id).await
}

/// The payment of a contribution has just been paid at `now` (called by the payment machine
/// in its transaction, the payment locked). Held when the project is open and its deadline
/// has not come; otherwise the money came too late and is refunded, never counted.
pub(crate) async fn on_payment_paid(
    tx: &mut PgTransaction<'_>,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<()> {
    let Target::Escrow(project_id) = payment.target else {
        return Ok(());
    };
    let (state, deadline) = lock_project_shared(tx, project_id).await?;
    let open = state == ProjectState::Approved && now < deadline;
    let updated = sqlx::query!(
        "UPDATE invest.contributions
         SET state = CASE WHEN $2::BOOLEAN THEN 'held' ELSE 'refunding' END, paid_at = $3::TIMESTAMPTZ,
             refund_next_at = CASE WHEN $2::BOOLEAN THEN NULL ELSE $3::TIMESTAMPTZ END, updated_at = now()
         WHERE payment_id = $1 AND state = 'pending'",
        payment.id,
        open,
        now,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 1 && !open {
        tracing::info!(payment = %payment.id, project = %project_id,
            "a contribution was paid after its project closed; it will be refunded");
    }
    Ok(())
}

/// More of a contribution's payment has just been refunded (by a cancellation, a failed
/// project's refund, or an admin at the provider): the contribution keeps the total, and is
/// `refunded` once all of it is back (a cancellation then marks it `cancelled`).
pub(crate) async fn on_payment_refunded(
    tx: &mut PgTransaction<'_>,
    payment: &Payment,
) -> Result<()> {
    if !matches!(payment.target, Target::Escrow(_)) {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE invest.contributions
         SET refunded_krw = $2,
             state = CASE WHEN $2 = amount_krw AND state IN ('held', 'refunding') THEN 'refunded' ELSE state END,
             refund_error = CASE WHEN $2 = amount_krw THEN NULL ELSE refund_error END,
             refund_next_at = CASE WHEN $2 = amount_krw THEN NULL ELSE refund_next_at END,
             updated_at = now()
         WHERE payment_id = $1",
        payment.id,
        payment.refunded.get(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Cancels the caller's held contribution before the deadline: refunded in full through the
/// provider, in `tx` (a provider's refusal changes nothing). The caller audits it.
pub async fn cancel(
    tx: &mut PgTransaction<'_>,
    payments: &Payments,
    now: DateTime<Utc>,
    user: Uuid,
    id: Uuid,
) -> Result<Contribution> {
    let c = contribution(&mut **tx, id).await?;
    if c.user_id != user {
        return Err(InvestError::ContributionNotFound);
    }
    // Lock order: the payment, the escrow, the project, the contribution.
    let payment = payments::lock(tx, c.payment_id)
        .await?
        .ok_or(InvestError::PaymentNotFound)?;
    lock_escrow(tx, c.project_id).await?;
    let (state, deadline) = lock_project_shared(tx, c.project_id).await?;
    if state != ProjectState::Approved || now >= deadline {
        return Err(InvestError::NotCancellable(
            "the project's deadline has passed",
        ));
    }
    let current = sqlx::query_scalar!(
        r#"SELECT state AS "state: ContributionState" FROM invest.contributions WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_one(&mut **tx)
    .await?;
    if current != ContributionState::Held {
        return Err(InvestError::NotCancellable(current.as_str()));
    }
    let left = payment
        .amount
        .checked_sub(payment.refunded)
        .ok_or(InvestError::Ledger(
            posmul_economy::ledger::LedgerError::Overflow,
        ))?;
    payments::refund(
        tx,
        payments,
        now,
        c.payment_id,
        left,
        &format!("funding:cancel:{id}"),
    )
    .await?;
    sqlx::query!(
        "UPDATE invest.contributions SET state = 'cancelled', updated_at = now() WHERE id = $1",
        id,
    )
    .execute(&mut **tx)
    .await?;
    contribution(&mut **tx, id).await
}

/// What a creator posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// News, at any time.
    Update,
    /// The results, once, after the settlement.
    FinalReport,
}

/// A creator's update.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectUpdate {
    pub id: Uuid,
    pub project_id: Uuid,
    pub kind: UpdateKind,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// An update to post.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    pub kind: UpdateKind,
    pub title: String,
    pub body: String,
}

/// Posts an update of the caller's project (its creator only); a final report once, after the
/// settlement.
pub async fn post_update(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    author: Uuid,
    project_id: Uuid,
    u: &NewUpdate,
) -> Result<ProjectUpdate> {
    if u.title.trim().is_empty() || u.title.chars().count() > 200 {
        return Err(InvestError::InvalidField("title", "1-200 characters"));
    }
    if u.body.trim().is_empty() || u.body.chars().count() > 10_000 {
        return Err(InvestError::InvalidField("body", "1-10000 characters"));
    }
    let row = sqlx::query!(
        r#"SELECT creator_id, state AS "state: ProjectState" FROM invest.projects WHERE id = $1 FOR UPDATE"#,
        project_id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(InvestError::ProjectNotFound)?;
    if row.creator_id != author {
        return Err(InvestError::NotProjectCreator);
    }
    if u.kind == UpdateKind::FinalReport {
        if !matches!(row.state, ProjectState::Funded | ProjectState::Failed) {
            return Err(InvestError::FinalReportNotAllowed(
                "the project is not settled yet",
            ));
        }
        // The project row is locked: two reports cannot both pass this check.
        let posted = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM invest.project_updates WHERE project_id = $1 AND kind = 'final_report') AS "x!""#,
            project_id,
        )
        .fetch_one(&mut **tx)
        .await?;
        if posted {
            return Err(InvestError::FinalReportNotAllowed("it was posted already"));
        }
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO invest.project_updates (id, project_id, author_id, kind, title, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        project_id,
        author,
        u.kind as _,
        u.title.trim(),
        u.body.trim(),
        now,
    )
    .execute(&mut **tx)
    .await?;
    Ok(ProjectUpdate {
        id,
        project_id,
        kind: u.kind,
        title: u.title.trim().to_owned(),
        body: u.body.trim().to_owned(),
        created_at: now,
    })
}

/// A project's updates, oldest first.
pub async fn updates(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<ProjectUpdate>> {
    Ok(sqlx::query_as!(
        ProjectUpdate,
        r#"SELECT id, project_id, kind AS "kind: UpdateKind", title, body, created_at
           FROM invest.project_updates WHERE project_id = $1 ORDER BY created_at, id"#,
        project_id,
    )
    .fetch_all(db)
    .await?)
}
