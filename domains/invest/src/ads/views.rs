//! Viewing a campaign, measured by the server (I1).
//!
//! - **Start** ([`start`]): one active view per citizen (`ad_views_one_active_per_user`); the
//!   daily limits (the campaign's per citizen, and [`rates::Rates::ad_views_per_day`] over all
//!   campaigns) count the citizen's *rewarded* views of the UTC day (API clock); the campaign
//!   must be running and its available budget must cover the full reward plus the bonus, which
//!   one conditional `UPDATE` reserves.
//! - **Heartbeat** ([`heartbeat`]): the client sends one at least every [`HEARTBEAT_SECS`]. The
//!   interval since the previous heartbeat (the start counts as the first) is covered time only
//!   when it is at most [`HEARTBEAT_SECS`] plus a grace of [`HEARTBEAT_GRACE_MS`] for network
//!   jitter; a longer gap counts nothing (time the server cannot vouch for).
//! - **Complete** ([`complete`]): the interval up to the completion counts like a heartbeat's.
//!   `watched = min(covered, length)` in whole seconds; under [`MIN_VIEW_SECS`] earns 0, the
//!   whole length earns the full reward, otherwise `floor(reward × watched ÷ length)`; an
//!   answered survey adds its bonus to a rewarded view (one under 30 s earns no bonus either).
//!   The payment goes from the campaign's budget to the viewer (`ad_reward`), and the rest of
//!   the reservation returns to the budget.
//! - **Expiry**: a view with no heartbeat for [`VIEW_TIMEOUT_SECS`], or still open
//!   [`VIEW_MAX_EXTRA_SECS`] after its length has run out, is abandoned: it expires and releases
//!   its whole reservation, lazily (when its viewer starts another view or sends to it) and by
//!   the server's sweep ([`expire_abandoned`]).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use posmul_economy::{
    ledger::{self, Account, Reference, ReferenceKind, TransferKind, TransferRequest},
    rates,
};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, PgTransaction};
use utoipa::ToSchema;
use uuid::Uuid;

use super::pmp;
use crate::error::{InvestError, Result};

/// Under this many watched seconds a view earns nothing.
pub const MIN_VIEW_SECS: i64 = 30;
/// The client sends a heartbeat at least this often.
pub const HEARTBEAT_SECS: i64 = 10;
/// Network jitter allowed on top of [`HEARTBEAT_SECS`] for an interval to count.
pub const HEARTBEAT_GRACE_MS: i64 = 1_000;
/// A view with no heartbeat for longer than this is abandoned.
pub const VIEW_TIMEOUT_SECS: i64 = 60;
/// A view still open this long after its length has run out is abandoned.
pub const VIEW_MAX_EXTRA_SECS: i64 = 600;

/// A view's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ViewState {
    Active,
    Completed,
    Expired,
}

impl ViewState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ViewState::Active => "active",
            ViewState::Completed => "completed",
            ViewState::Expired => "expired",
        }
    }
}

/// A view, as its viewer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct View {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub user_id: Uuid,
    pub state: ViewState,
    /// PMP held for this view (the full reward plus the bonus).
    pub reserved: i64,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// Heartbeat-covered time so far, in milliseconds.
    pub covered_ms: i64,
    /// Seconds counted (completed views).
    pub watched_secs: Option<i32>,
    /// The reward part paid (completed views).
    pub earned: Option<i64>,
    /// The survey bonus paid (completed views).
    pub bonus: Option<i64>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A completed view and what it paid.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Completed {
    pub view: View,
    /// PMP paid to the viewer: reward part plus bonus.
    pub paid: i64,
    /// PMP of the reservation returned to the budget.
    pub released: i64,
}

/// A view row with what its rules need from the campaign.
struct Open {
    view: View,
    length_secs: i64,
    reward: i64,
    survey_options: Option<i64>,
    survey_bonus: i64,
}

impl Open {
    fn abandoned(&self, now: DateTime<Utc>) -> bool {
        now - self.view.last_heartbeat_at > TimeDelta::seconds(VIEW_TIMEOUT_SECS)
            || now
                > self.view.started_at + TimeDelta::seconds(self.length_secs + VIEW_MAX_EXTRA_SECS)
    }

    /// Covered time after a heartbeat (or the completion) at `now`.
    fn covered_at(&self, now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
        let gap = (now - self.view.last_heartbeat_at).num_milliseconds();
        let counts = (0..=HEARTBEAT_SECS * 1000 + HEARTBEAT_GRACE_MS).contains(&gap);
        let covered = self.view.covered_ms + if counts { gap } else { 0 };
        // A clock that steps back never moves the last heartbeat back.
        (covered, now.max(self.view.last_heartbeat_at))
    }
}

/// The reward part of a view of `length_secs` that watched `watched_secs` (I1).
pub fn reward_for(reward: i64, length_secs: i64, watched_secs: i64) -> i64 {
    if watched_secs < MIN_VIEW_SECS {
        0
    } else if watched_secs >= length_secs {
        reward
    } else {
        // floor(reward × watched ÷ length), exact in 128 bits; below `reward`, so it fits.
        let part = i128::from(reward) * i128::from(watched_secs) / i128::from(length_secs);
        i64::try_from(part).unwrap_or(reward)
    }
}

macro_rules! open_row {
    ($r:expr) => {
        Open {
            view: View {
                id: $r.id,
                campaign_id: $r.campaign_id,
                user_id: $r.user_id,
                state: $r.state,
                reserved: $r.reserved,
                started_at: $r.started_at,
                last_heartbeat_at: $r.last_heartbeat_at,
                covered_ms: $r.covered_ms,
                watched_secs: $r.watched_secs,
                earned: $r.earned,
                bonus: $r.bonus,
                ended_at: $r.ended_at,
            },
            length_secs: i64::from($r.length_secs),
            reward: $r.reward,
            survey_options: $r.survey_options,
            survey_bonus: $r.survey_bonus,
        }
    };
}

/// The view `id` of `user`, locked for the caller's transaction.
async fn lock_view(conn: &mut PgConnection, user: Uuid, id: Uuid) -> Result<Open> {
    let r = sqlx::query!(
        r#"SELECT v.id, v.campaign_id, v.user_id, v.state AS "state: ViewState", v.reserved,
                  v.started_at, v.last_heartbeat_at, v.covered_ms, v.watched_secs, v.earned,
                  v.bonus, v.ended_at, c.length_secs, c.reward,
                  cardinality(c.survey_options)::BIGINT AS survey_options, c.survey_bonus
           FROM invest.ad_views v JOIN invest.campaigns c ON c.id = v.campaign_id
           WHERE v.id = $1 AND v.user_id = $2 FOR UPDATE OF v"#,
        id,
        user,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(InvestError::ViewNotFound)?;
    Ok(open_row!(r))
}

/// The active view of `user`, locked, if any.
async fn lock_active(conn: &mut PgConnection, user: Uuid) -> Result<Option<Open>> {
    let r = sqlx::query!(
        r#"SELECT v.id, v.campaign_id, v.user_id, v.state AS "state: ViewState", v.reserved,
                  v.started_at, v.last_heartbeat_at, v.covered_ms, v.watched_secs, v.earned,
                  v.bonus, v.ended_at, c.length_secs, c.reward,
                  cardinality(c.survey_options)::BIGINT AS survey_options, c.survey_bonus
           FROM invest.ad_views v JOIN invest.campaigns c ON c.id = v.campaign_id
           WHERE v.user_id = $1 AND v.state = 'active' FOR UPDATE OF v"#,
        user,
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| open_row!(r)))
}

/// Expires a locked active view: its whole reservation returns to the budget.
async fn expire(tx: &mut PgTransaction<'_>, open: &mut Open, now: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "UPDATE invest.ad_views SET state = 'expired', ended_at = $2 WHERE id = $1",
        open.view.id,
        now,
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE invest.campaigns SET reserved = reserved - $2 WHERE id = $1",
        open.view.campaign_id,
        open.view.reserved,
    )
    .execute(&mut **tx)
    .await?;
    open.view.state = ViewState::Expired;
    open.view.ended_at = Some(now);
    Ok(())
}

/// Starts a view of `campaign_id` by `user` at `now`, in `tx`, reserving its full reward plus
/// bonus (see the module docs for every refusal).
pub async fn start(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    user: Uuid,
    campaign_id: Uuid,
) -> Result<View> {
    if let Some(mut active) = lock_active(tx, user).await? {
        if !active.abandoned(now) {
            return Err(InvestError::ViewAlreadyActive(Some(active.view.id)));
        }
        expire(tx, &mut active, now).await?;
    }
    let campaign = super::get(&mut **tx, campaign_id, now).await?;
    match campaign.status {
        super::CampaignStatus::Running | super::CampaignStatus::Exhausted => {}
        status => return Err(InvestError::CampaignNotRunning(status)),
    }
    let day: NaiveDate = now.date_naive();
    let per_day = rates::in_force(&mut **tx, day).await?.ad_views_per_day;
    let counts = sqlx::query!(
        r#"SELECT count(*) AS "all!", count(*) FILTER (WHERE campaign_id = $3) AS "this!"
           FROM invest.ad_views
           WHERE user_id = $1 AND day = $2 AND state = 'completed' AND earned > 0"#,
        user,
        day,
        campaign_id,
    )
    .fetch_one(&mut **tx)
    .await?;
    if counts.this >= i64::from(campaign.daily_limit) {
        return Err(InvestError::CampaignDailyLimit(campaign.daily_limit));
    }
    if counts.all >= i64::from(per_day) {
        return Err(InvestError::DailyViewLimit(per_day));
    }
    // The reservation: one conditional UPDATE, so concurrent starts serialize on the row and
    // never reserve past the budget.
    let reserved = sqlx::query_scalar!(
        r#"UPDATE invest.campaigns SET reserved = reserved + reward + survey_bonus
           WHERE id = $1 AND paused_at IS NULL AND starts_at <= $2 AND ends_at > $2
             AND funded - paid - reserved >= reward + survey_bonus
           RETURNING reward + survey_bonus AS "reserved!""#,
        campaign_id,
        now,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(InvestError::BudgetExhausted)?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query!(
        "INSERT INTO invest.ad_views (id, campaign_id, user_id, day, reserved, started_at, last_heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        id,
        campaign_id,
        user,
        day,
        reserved,
        now,
    )
    .execute(&mut **tx)
    .await;
    if let Err(e) = inserted {
        // A concurrent start by the same citizen won.
        if e.as_database_error().and_then(|d| d.constraint())
            == Some("ad_views_one_active_per_user")
        {
            return Err(InvestError::ViewAlreadyActive(None));
        }
        return Err(e.into());
    }
    Ok(View {
        id,
        campaign_id,
        user_id: user,
        state: ViewState::Active,
        reserved,
        started_at: now,
        last_heartbeat_at: now,
        covered_ms: 0,
        watched_secs: None,
        earned: None,
        bonus: None,
        ended_at: None,
    })
}

/// Locks `user`'s view `id` in `tx` for a heartbeat or the completion. An abandoned view is
/// expired and that committed, then refused (`Err(None)` asks the caller to commit and refuse).
async fn lock_alive(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    user: Uuid,
    id: Uuid,
) -> Result<std::result::Result<Open, Option<InvestError>>> {
    let mut open = lock_view(tx, user, id).await?;
    if open.view.state != ViewState::Active {
        return Ok(Err(Some(InvestError::ViewNotActive(open.view.state))));
    }
    if open.abandoned(now) {
        expire(tx, &mut open, now).await?;
        return Ok(Err(None));
    }
    Ok(Ok(open))
}

/// A heartbeat of `user`'s view `id` at `now`.
pub async fn heartbeat(db: &PgPool, now: DateTime<Utc>, user: Uuid, id: Uuid) -> Result<View> {
    let mut tx = db.begin().await?;
    let open = match lock_alive(&mut tx, now, user, id).await? {
        Ok(open) => open,
        Err(Some(refusal)) => return Err(refusal),
        Err(None) => {
            tx.commit().await?;
            return Err(InvestError::ViewExpired);
        }
    };
    let (covered, last) = open.covered_at(now);
    sqlx::query!(
        "UPDATE invest.ad_views SET covered_ms = $2, last_heartbeat_at = $3, heartbeats = heartbeats + 1
         WHERE id = $1",
        id,
        covered,
        last,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut view = open.view;
    view.covered_ms = covered;
    view.last_heartbeat_at = last;
    Ok(view)
}

/// Completes `user`'s view `id` at `now`: pays what it earned from the reservation and returns
/// the rest to the budget. `survey_answer` is an option's index. Completing a completed view
/// again answers what it paid and moves nothing, so a client may retry.
pub async fn complete(
    db: &PgPool,
    now: DateTime<Utc>,
    user: Uuid,
    id: Uuid,
    survey_answer: Option<i64>,
) -> Result<Completed> {
    let mut tx = db.begin().await?;
    let open = match lock_alive(&mut tx, now, user, id).await? {
        Ok(open) => open,
        Err(Some(InvestError::ViewNotActive(ViewState::Completed))) => {
            let view = lock_view(&mut tx, user, id).await?.view;
            let paid = view.earned.unwrap_or(0) + view.bonus.unwrap_or(0);
            return Ok(Completed {
                released: view.reserved - paid,
                paid,
                view,
            });
        }
        Err(Some(refusal)) => return Err(refusal),
        Err(None) => {
            tx.commit().await?;
            return Err(InvestError::ViewExpired);
        }
    };
    let answer = match (survey_answer, open.survey_options) {
        (None, _) => None,
        (Some(a), Some(n)) if (0..n).contains(&a) => i16::try_from(a).ok(),
        (Some(_), _) => {
            return Err(InvestError::InvalidField(
                "survey_answer",
                "the index of one of the campaign's survey options",
            ));
        }
    };
    let (covered, last) = open.covered_at(now);
    let watched = (covered / 1000).min(open.length_secs);
    let earned = reward_for(open.reward, open.length_secs, watched);
    let bonus = if earned > 0 && answer.is_some() {
        open.survey_bonus
    } else {
        0
    };
    let paid = earned + bonus;
    let released = open.view.reserved - paid;
    // The campaign row before the ledger accounts: the one lock order of the module.
    sqlx::query!(
        "UPDATE invest.campaigns SET reserved = reserved - $2, paid = paid + $3 WHERE id = $1",
        open.view.campaign_id,
        open.view.reserved,
        paid,
    )
    .execute(&mut *tx)
    .await?;
    if paid > 0 {
        ledger::transfer(
            &mut tx,
            TransferRequest {
                from: Account::campaign_budget(open.view.campaign_id),
                to: Account::user(user),
                amount: pmp(paid),
                kind: TransferKind::AdReward,
                reference: Reference {
                    kind: ReferenceKind::Campaign,
                    id: open.view.campaign_id,
                },
                idempotency_key: Some(format!("ad-view:{id}")),
                memo: None,
            },
        )
        .await?;
    }
    let watched_secs = i32::try_from(watched).unwrap_or(i32::MAX);
    sqlx::query!(
        "UPDATE invest.ad_views SET state = 'completed', covered_ms = $2, last_heartbeat_at = $3,
                watched_secs = $4, survey_answer = $5, earned = $6, bonus = $7, ended_at = $8
         WHERE id = $1",
        id,
        covered,
        last,
        watched_secs,
        answer,
        earned,
        bonus,
        now,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut view = open.view;
    view.state = ViewState::Completed;
    view.covered_ms = covered;
    view.last_heartbeat_at = last;
    view.watched_secs = Some(watched_secs);
    view.earned = Some(earned);
    view.bonus = Some(bonus);
    view.ended_at = Some(now);
    Ok(Completed {
        view,
        paid,
        released,
    })
}

/// Expires up to `limit` abandoned views at `now` (the server's sweep); how many it expired.
/// Rows another transaction holds are skipped, so the sweep never waits on a viewer.
pub async fn expire_abandoned(db: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<u64> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query!(
        r#"SELECT v.id, v.campaign_id, v.reserved
           FROM invest.ad_views v JOIN invest.campaigns c ON c.id = v.campaign_id
           WHERE v.state = 'active'
             AND (v.last_heartbeat_at < $1::TIMESTAMPTZ - make_interval(secs => $2::FLOAT8)
                  OR v.started_at + make_interval(secs => (c.length_secs + $3::INT)::FLOAT8) < $1::TIMESTAMPTZ)
           ORDER BY v.id LIMIT $4
           FOR UPDATE OF v SKIP LOCKED"#,
        now,
        VIEW_TIMEOUT_SECS as f64,
        VIEW_MAX_EXTRA_SECS as i32,
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &rows {
        sqlx::query!(
            "UPDATE invest.ad_views SET state = 'expired', ended_at = $2 WHERE id = $1",
            r.id,
            now,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE invest.campaigns SET reserved = reserved - $2 WHERE id = $1",
            r.campaign_id,
            r.reserved,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}
