//! Major League: sponsored ads (DESIGN.md I1). An advertiser (a merchant) creates a campaign,
//! funds its PMP budget with KRW payments (converted at the PMP-per-KRW rate in force on the day
//! the payment is paid, E4), and citizens earn PMP by viewing it, measured by the server
//! ([`views`]).
//!
//! The money: a funding payment's KRW goes from provider clearing to the platform's revenue
//! (`krw_revenue`, I4's capture); its PMP is an issuance posting into the campaign's budget
//! account ([`on_paid`], idempotent by payment). A completed view pays its reward from the
//! budget to the viewer (`ad_reward`). Nothing else moves the budget.
//!
//! The reservation: the campaign row carries `funded` (PMP issued into the budget), `reserved`
//! (held by views in progress) and `paid` (paid to viewers); the budget account's balance is
//! `funded - paid`. A view starts only through one conditional `UPDATE` of that row that adds its
//! full reward plus bonus to `reserved` while `funded - paid - reserved` covers it, so concurrent
//! views serialize on the row and never overspend (and `campaigns_budget_never_overspent` refuses
//! it in the database too). A campaign whose available budget cannot cover one more reservation
//! is `exhausted`: it is not listed and refuses views until a funding or a released reservation
//! makes room again.
//!
//! Locks are always taken in one order, so nothing deadlocks: a view row, then the campaign row,
//! then the ledger accounts.
//!
//! Refunds: ad budgets are not refunded once paid. The admin refund route refuses a campaign
//! funding (`campaign-funding-not-refundable`); a refund made at the provider anyway (its
//! webhook) moves the KRW back from revenue, as every refund does, and pauses the campaign for an
//! admin to settle with the advertiser: the PMP already issued stays in the budget, since part of
//! it may be reserved or paid out.

pub mod routes;
pub mod views;

use std::time::Duration;

use chrono::{DateTime, Utc};
use posmul_core::{clock::Clock, money::Pmp};
use posmul_economy::{
    ledger::{self, Account, Reference, ReferenceKind, TransferKind, TransferRequest},
    rates,
};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool, PgTransaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::{InvestError, Result},
    payments::{Payment, Target},
};

pub use views::{Completed, View, ViewState};

/// Where a campaign stands now (derived from its row and the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Paused by an admin.
    Paused,
    /// Before `starts_at`.
    Scheduled,
    /// At or after `ends_at`.
    Ended,
    /// The available budget cannot cover one more view's reservation.
    Exhausted,
    /// Views may start.
    Running,
}

impl CampaignStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Paused => "paused",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Ended => "ended",
            CampaignStatus::Exhausted => "exhausted",
            CampaignStatus::Running => "running",
        }
    }
}

/// A campaign's survey: a question, its options, and the PMP an answer adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// 1-300 characters.
    pub question: String,
    /// 2-6 options of 1-100 characters; an answer is an option's index.
    pub options: Vec<String>,
    /// PMP added to a rewarded view whose survey is answered (0 or more).
    pub bonus: i64,
}

/// A campaign.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Campaign {
    pub id: Uuid,
    pub advertiser_id: Uuid,
    pub title: String,
    pub creative_url: String,
    pub length_secs: i32,
    /// PMP for a full view.
    pub reward: i64,
    pub survey: Option<Survey>,
    /// Rewarded views a citizen may complete per UTC day on this campaign.
    pub daily_limit: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// PMP issued into the budget so far.
    pub funded: i64,
    /// PMP held by views in progress.
    pub reserved: i64,
    /// PMP paid to viewers.
    pub paid: i64,
    pub paused_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub status: CampaignStatus,
}

impl Campaign {
    /// What one view reserves: the full reward plus the survey's bonus.
    pub fn reservation(&self) -> i64 {
        self.reward + self.survey.as_ref().map_or(0, |s| s.bonus)
    }

    /// PMP a new view may still reserve.
    pub fn available(&self) -> i64 {
        self.funded - self.paid - self.reserved
    }
}

/// A campaign to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    /// 1-100 characters.
    pub title: String,
    /// The creative, an `http(s)://` URL of at most 2,000 characters.
    pub creative_url: String,
    /// 30-3,600 seconds.
    pub length_secs: i32,
    /// PMP for a full view, at least 1.
    pub reward: i64,
    #[serde(default)]
    pub survey: Option<Survey>,
    /// Rewarded views per citizen per UTC day on this campaign, 1-1,000.
    pub daily_limit: i32,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`.
    pub ends_at: DateTime<Utc>,
}

/// The largest reward or bonus of one view, in PMP (keeps every sum far from overflow).
pub const MAX_VIEW_PMP: i64 = 1_000_000_000;

fn check_new_campaign(c: &NewCampaign) -> Result<()> {
    let bad = |field: &'static str, why: &'static str| Err(InvestError::InvalidField(field, why));
    if c.title.trim().is_empty() || c.title.chars().count() > 100 {
        return bad("title", "1-100 characters");
    }
    let url_ok = (c.creative_url.starts_with("https://") || c.creative_url.starts_with("http://"))
        && c.creative_url.len() <= 2000
        && !c.creative_url.chars().any(char::is_whitespace);
    if !url_ok {
        return bad(
            "creative_url",
            "an http(s):// URL of at most 2000 characters",
        );
    }
    if !(30..=3600).contains(&c.length_secs) {
        return bad("length_secs", "30-3600 seconds");
    }
    if !(1..=MAX_VIEW_PMP).contains(&c.reward) {
        return bad("reward", "1-1000000000 PMP");
    }
    if let Some(s) = &c.survey {
        if s.question.trim().is_empty() || s.question.chars().count() > 300 {
            return bad("survey.question", "1-300 characters");
        }
        if !(2..=6).contains(&s.options.len())
            || s.options
                .iter()
                .any(|o| o.trim().is_empty() || o.chars().count() > 100)
        {
            return bad("survey.options", "2-6 options of 1-100 characters");
        }
        if !(0..=MAX_VIEW_PMP).contains(&s.bonus) {
            return bad("survey.bonus", "0-1000000000 PMP");
        }
    }
    if !(1..=1000).contains(&c.daily_limit) {
        return bad("daily_limit", "1-1000 views a day");
    }
    if c.ends_at <= c.starts_at {
        return bad("ends_at", "after starts_at");
    }
    Ok(())
}

/// A campaign row as read, before its status is derived.
struct Row {
    id: Uuid,
    advertiser_id: Uuid,
    title: String,
    creative_url: String,
    length_secs: i32,
    reward: i64,
    survey_question: Option<String>,
    survey_options: Option<Vec<String>>,
    survey_bonus: i64,
    daily_limit: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    funded: i64,
    reserved: i64,
    paid: i64,
    paused_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl Row {
    fn at(self, now: DateTime<Utc>) -> Campaign {
        let survey = match (self.survey_question, self.survey_options) {
            (Some(question), Some(options)) => Some(Survey {
                question,
                options,
                bonus: self.survey_bonus,
            }),
            _ => None,
        };
        let mut c = Campaign {
            id: self.id,
            advertiser_id: self.advertiser_id,
            title: self.title,
            creative_url: self.creative_url,
            length_secs: self.length_secs,
            reward: self.reward,
            survey,
            daily_limit: self.daily_limit,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            funded: self.funded,
            reserved: self.reserved,
            paid: self.paid,
            paused_at: self.paused_at,
            created_at: self.created_at,
            status: CampaignStatus::Running,
        };
        c.status = if c.paused_at.is_some() {
            CampaignStatus::Paused
        } else if now < c.starts_at {
            CampaignStatus::Scheduled
        } else if now >= c.ends_at {
            CampaignStatus::Ended
        } else if c.available() < c.reservation() {
            CampaignStatus::Exhausted
        } else {
            CampaignStatus::Running
        };
        c
    }
}

/// Creates a campaign of `advertiser`, unfunded.
pub async fn create(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    advertiser: Uuid,
    c: &NewCampaign,
) -> Result<Campaign> {
    check_new_campaign(c)?;
    let id = Uuid::now_v7();
    let (question, options, bonus) = match &c.survey {
        Some(s) => (
            Some(s.question.trim()),
            Some(
                s.options
                    .iter()
                    .map(|o| o.trim().to_owned())
                    .collect::<Vec<_>>(),
            ),
            s.bonus,
        ),
        None => (None, None, 0),
    };
    sqlx::query!(
        "INSERT INTO invest.campaigns (id, advertiser_id, title, creative_url, length_secs, reward,
                                       survey_question, survey_options, survey_bonus, daily_limit,
                                       starts_at, ends_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        id,
        advertiser,
        c.title.trim(),
        c.creative_url,
        c.length_secs,
        c.reward,
        question,
        options.as_deref(),
        bonus,
        c.daily_limit,
        c.starts_at,
        c.ends_at,
        now,
    )
    .execute(db)
    .await?;
    Ok(Row {
        id,
        advertiser_id: advertiser,
        title: c.title.trim().to_owned(),
        creative_url: c.creative_url.clone(),
        length_secs: c.length_secs,
        reward: c.reward,
        survey_question: question.map(str::to_owned),
        survey_options: options,
        survey_bonus: bonus,
        daily_limit: c.daily_limit,
        starts_at: c.starts_at,
        ends_at: c.ends_at,
        funded: 0,
        reserved: 0,
        paid: 0,
        paused_at: None,
        created_at: now,
    }
    .at(now))
}

/// A campaign as it stands at `now`.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid, now: DateTime<Utc>) -> Result<Campaign> {
    let row = sqlx::query_as!(
        Row,
        "SELECT id, advertiser_id, title, creative_url, length_secs, reward, survey_question,
                survey_options, survey_bonus, daily_limit, starts_at, ends_at, funded, reserved,
                paid, paused_at, created_at
         FROM invest.campaigns WHERE id = $1",
        id,
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| r.at(now)).ok_or(InvestError::CampaignNotFound)
}

/// The campaigns running at `now` (views may start), oldest first, after the id `after`.
pub async fn list_running(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Campaign>> {
    let rows = sqlx::query_as!(
        Row,
        "SELECT id, advertiser_id, title, creative_url, length_secs, reward, survey_question,
                survey_options, survey_bonus, daily_limit, starts_at, ends_at, funded, reserved,
                paid, paused_at, created_at
         FROM invest.campaigns
         WHERE paused_at IS NULL AND starts_at <= $1 AND ends_at > $1
           AND funded - paid - reserved >= reward + survey_bonus
           AND ($2::UUID IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
        now,
        after,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.at(now)).collect())
}

/// Sets or lifts an admin's pause, in `tx` (the caller audits it). Returns the campaign and
/// whether it changed.
pub async fn set_paused(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    admin: Option<Uuid>,
    id: Uuid,
    paused: bool,
) -> Result<(Campaign, bool)> {
    let changed = sqlx::query!(
        "UPDATE invest.campaigns SET paused_at = CASE WHEN $2::BOOL THEN $3::TIMESTAMPTZ END,
                                     paused_by = CASE WHEN $2::BOOL THEN $4::UUID END
         WHERE id = $1 AND (paused_at IS NOT NULL) <> $2::BOOL",
        id,
        paused,
        now,
        admin,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    Ok((get(&mut **tx, id, now).await?, changed))
}

/// What an advertiser sees of a campaign (I1).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignStats {
    pub campaign_id: Uuid,
    /// Views started.
    pub views: i64,
    /// Views in progress.
    pub active: i64,
    /// Views the viewer completed (whatever they earned).
    pub completed: i64,
    /// Completed views that watched the whole length.
    pub full_views: i64,
    /// Views abandoned and expired.
    pub expired: i64,
    /// Rewarded views (they earned at least 30 s worth).
    pub rewarded: i64,
    /// Full views ÷ views that ended (completed or expired); 0 before any ended.
    pub completion_rate: f64,
    /// Survey answers received.
    pub survey_answers: i64,
    /// PMP issued into the budget.
    pub funded: i64,
    /// PMP paid to viewers (the spend).
    pub spent: i64,
    /// PMP held by views in progress.
    pub reserved: i64,
    /// PMP left in the budget (funded - spent).
    pub budget_left: i64,
    /// KRW paid for the budget.
    pub krw_paid: i64,
}

/// A campaign's figures.
pub async fn stats(db: &PgPool, campaign: &Campaign) -> Result<CampaignStats> {
    let v = sqlx::query!(
        r#"SELECT count(*) AS "views!",
                  count(*) FILTER (WHERE state = 'active') AS "active!",
                  count(*) FILTER (WHERE state = 'completed') AS "completed!",
                  count(*) FILTER (WHERE state = 'completed' AND watched_secs >= $2) AS "full_views!",
                  count(*) FILTER (WHERE state = 'expired') AS "expired!",
                  count(*) FILTER (WHERE state = 'completed' AND earned > 0) AS "rewarded!",
                  count(*) FILTER (WHERE survey_answer IS NOT NULL) AS "survey_answers!"
           FROM invest.ad_views WHERE campaign_id = $1"#,
        campaign.id,
        campaign.length_secs,
    )
    .fetch_one(db)
    .await?;
    let krw_paid = sqlx::query_scalar!(
        r#"SELECT COALESCE(SUM(krw), 0)::BIGINT AS "krw!" FROM invest.campaign_fundings WHERE campaign_id = $1"#,
        campaign.id,
    )
    .fetch_one(db)
    .await?;
    let ended = v.completed + v.expired;
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let completion_rate = if ended == 0 {
        0.0
    } else {
        v.full_views as f64 / ended as f64
    };
    Ok(CampaignStats {
        campaign_id: campaign.id,
        views: v.views,
        active: v.active,
        completed: v.completed,
        full_views: v.full_views,
        expired: v.expired,
        rewarded: v.rewarded,
        completion_rate,
        survey_answers: v.survey_answers,
        funded: campaign.funded,
        spent: campaign.paid,
        reserved: campaign.reserved,
        budget_left: campaign.funded - campaign.paid,
        krw_paid,
    })
}

/// Checks that `user` may fund `campaign` (its advertiser) before a payment is created for it.
pub fn check_funder(campaign: &Campaign, user: Uuid) -> Result<()> {
    if campaign.advertiser_id == user {
        Ok(())
    } else {
        Err(InvestError::NotCampaignOwner)
    }
}

/// A payment has just become paid (called by the payments' effects, in its transaction): a
/// campaign funding issues its PMP into the campaign's budget, at the PMP-per-KRW rate in force
/// on the day it is paid. Idempotent by payment: a second call finds the funding row and
/// changes nothing.
pub(crate) async fn on_paid(
    tx: &mut PgTransaction<'_>,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<()> {
    let Target::CampaignFunding(campaign_id) = payment.target else {
        return Ok(());
    };
    let day = now.date_naive();
    let rate = rates::in_force(&mut **tx, day).await?.pmp_per_krw;
    let pmp = rates::pmp_for_krw(payment.amount, &[rate])
        .ok_or(InvestError::Ledger(ledger::LedgerError::Overflow))?;
    let fresh = sqlx::query!(
        "INSERT INTO invest.campaign_fundings (payment_id, campaign_id, krw, pmp, pmp_per_krw, paid_day, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_id) DO NOTHING",
        payment.id,
        campaign_id,
        payment.amount.get(),
        pmp.get(),
        rate as _,
        day,
        now,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh || pmp.get() == 0 {
        return Ok(());
    }
    // The campaign row before the ledger accounts: the one lock order of this module.
    sqlx::query!(
        "UPDATE invest.campaigns SET funded = funded + $2 WHERE id = $1",
        campaign_id,
        pmp.get(),
    )
    .execute(&mut **tx)
    .await?;
    ledger::transfer(
        tx,
        TransferRequest {
            from: Account::ISSUANCE,
            to: Account::campaign_budget(campaign_id),
            amount: pmp,
            kind: TransferKind::CampaignFunding,
            reference: Reference {
                kind: ReferenceKind::Campaign,
                id: campaign_id,
            },
            idempotency_key: Some(format!("campaign-funding:{}", payment.id)),
            memo: Some(format!("payment {}", payment.id)),
        },
    )
    .await?;
    tracing::info!(campaign = %campaign_id, payment = %payment.id, krw = payment.amount.get(), pmp = pmp.get(), "a campaign was funded");
    Ok(())
}

/// More of a payment was refunded. The refund route refuses campaign fundings; one refunded at
/// the provider anyway has moved its KRW back from revenue, and the campaign is paused for an
/// admin to settle with the advertiser (the PMP stays: it may be reserved or paid out already).
pub(crate) async fn on_refunded(
    tx: &mut PgTransaction<'_>,
    payment: &Payment,
    refunded: posmul_core::money::Krw,
    now: DateTime<Utc>,
) -> Result<()> {
    let Target::CampaignFunding(campaign_id) = payment.target else {
        return Ok(());
    };
    tracing::error!(campaign = %campaign_id, payment = %payment.id, refunded = refunded.get(),
        "a campaign funding was refunded at the provider; the campaign is paused");
    set_paused(tx, now, None, campaign_id, true).await?;
    Ok(())
}

/// How often the server expires abandoned views.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Expires abandoned views every [`SWEEP_INTERVAL`], reading the app's clock, until aborted.
/// Views are also expired lazily, when their viewer starts another one or sends to them.
pub fn spawn_sweeper(db: PgPool, clock: Clock) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = clock.now().await;
            match views::expire_abandoned(&db, now, 500).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "abandoned ad views expired"),
                Err(e) => tracing::warn!(error = %e, "expiring abandoned ad views failed"),
            }
            tokio::time::sleep(SWEEP_INTERVAL).await;
        }
    })
}

/// PMP as the ledger's type (amounts here are checked positive by the callers).
fn pmp(v: i64) -> Pmp {
    Pmp::new(v)
}
