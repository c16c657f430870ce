//! Settlement (P5), cancellation and corrections (P6).
//!
//! **Settle** (admin or resolver, once, a CLOSED game): the hourly pools are caught up first, so
//! the game's pool is every hour it took part in, less what went back to the day's budget (a
//! proposal without enough distinct stakers at its end keeps nothing; [`pools`]). The winners —
//! live predictions on the winning option — share the pool in proportion to their stakes:
//! `pool × stake ÷ winning stakes`, floored, and the dust (fewer wei than winners) goes one wei
//! each to the largest remainders, ties to the earlier prediction id
//! ([`super::allocation::apportion`]), so the credits sum to the pool exactly. Each positive
//! share is a PMC credit of the settlement's UTC day ([`posmul_economy::credits::issue`], source
//! `prediction_win`, key `prediction:<prediction id>`). Every stake, won or lost, is consumed:
//! the game's escrow moves to the burn account (`stake_settlement`). With no winner nothing is
//! credited and the pool is not minted. The settlement row and the game are then immutable (a
//! trigger refuses changes).
//!
//! **The dispute window** (P6): the settlement records `dispute_ends_at` = its time plus
//! `PREDICTION_DISPUTE_WINDOW_SECS` on the API's clock, and its credits carry it as their
//! `wave_eligible_at`: no wave takes them before (the relayer asks for candidates at its time).
//!
//! **Correct** (admin only, a SETTLED game, before `dispute_ends_at`): an audited action of its
//! own that records the corrected winning option with a reason in `predictions.corrections` and
//! in the audit log (`prediction_settlement_corrected`, in the same transaction), revokes every
//! credit of the outcome it replaces ([`posmul_economy::credits::revoke`]: they are still
//! pending, no wave took them), re-marks the predictions won/lost (so accuracy follows the
//! correction) and credits the winners under the correction their share of the same pool, with
//! the same day and the same `wave_eligible_at` (key `prediction:<id>:correction:<correction
//! id>`). So the game's live credits are always exactly one outcome's: nobody is paid twice.
//! After the window a correction is refused (`dispute-window-closed`): the credits may be in a
//! wave, and a credit in a wave is irrevocable (E3).
//!
//! **Cancel** (admin or resolver, any game not yet final): every live stake is refunded in full
//! in one ledger entry (`stake_refund`), and what the game received from the hourly pools
//! returns to the day's budget ([`pools::release`]).
//!
//! **No one decides their own game** (P6): whoever created a game or staked in it (even a stake
//! withdrawn since) cannot settle, cancel or correct it (`conflict-of-interest`). Settle, cancel
//! and correct are written to the audit log with their actor, in their own transaction.

use chrono::{DateTime, NaiveDate, Utc};
use posmul_api_kit::{audit, auth::extract::RequestMeta, config::PredictionSettings};
use posmul_core::money::{Pmp, Wei};
use posmul_economy::{
    credits::{self, CreditError, CreditRequest, CreditSource},
    ledger::{self, Account, Entry, Leg, Reference, ReferenceKind, TransferKind, TransferRequest},
};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, PgTransaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    allocation,
    error::{PredictionError, Result},
    events, games, pools,
    types::{GameStatus, PredictionStatus},
};

/// `POST /v1/predictions/games/{id}/settlement`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// The winning option's position.
    pub winning_option: i16,
}

/// `POST /v1/predictions/games/{id}/corrections`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    pub winning_option: i16,
    /// Why the settlement was wrong (10-1000 characters); kept for the audit.
    pub reason: String,
}

/// A settlement as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Settlement {
    pub game_id: Uuid,
    pub winning_option: i16,
    pub settled_by: Uuid,
    pub settled_at: DateTime<Utc>,
    /// The UTC day whose wave carries the credits.
    pub day: NaiveDate,
    #[schema(value_type = String)]
    pub pool: Wei,
    /// The pool in PMC (decimal).
    pub pool_pmc: String,
    /// Credited to winners: the pool, or 0 when nobody won.
    #[schema(value_type = String)]
    pub minted: Wei,
    /// The same in PMC (decimal).
    pub minted_pmc: String,
    #[schema(value_type = i64)]
    pub winning_stakes: Pmp,
    pub winners: i32,
    /// PMP consumed into the burn account.
    #[schema(value_type = i64)]
    pub burned_stakes: Pmp,
    /// P6: until then an admin may correct the settlement, and its credits join no wave
    /// (null for a settlement made before the window existed).
    pub dispute_ends_at: Option<DateTime<Utc>>,
}

/// A recorded correction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Correction {
    pub id: Uuid,
    pub game_id: Uuid,
    pub previous_option: i16,
    pub corrected_option: i16,
    pub reason: String,
    pub corrected_by: Uuid,
    /// Credited to the winners under the correction, in wei.
    #[schema(value_type = String)]
    pub minted: Wei,
    /// Taken back from the credits of the outcome it replaced, in wei.
    #[schema(value_type = String)]
    pub revoked: Wei,
}

/// A prediction that takes part in a decision: live at settlement, won or lost at a correction.
struct Entrant {
    id: Uuid,
    user_id: Uuid,
    position: i16,
    stake: Pmp,
    /// The credit it holds now (from the settlement or an earlier correction).
    credit_id: Option<Uuid>,
}

/// The sum of stakes (a game's stakes are bounded by the ledger's balances, far below overflow).
fn total(mut stakes: impl Iterator<Item = Pmp>) -> Result<Pmp> {
    stakes
        .try_fold(Pmp::ZERO, Pmp::checked_add)
        .ok_or_else(|| PredictionError::overflow("a stake total"))
}

/// Locks a game; returns its status at `now` and its number of options.
async fn lock_game(
    tx: &mut PgTransaction<'_>,
    game_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(GameStatus, i16)> {
    let row = sqlx::query!(
        r#"SELECT predictions.effective_status(status, starts_at, ends_at, $2) AS "status!: GameStatus",
                (SELECT count(*) FROM predictions.options o WHERE o.game_id = g.id)::SMALLINT AS "options!"
         FROM predictions.games g WHERE id = $1 FOR UPDATE"#,
        game_id,
        now,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(PredictionError::GameNotFound)?;
    Ok((row.status, row.options))
}

/// The game's predictions in `statuses`, locked, by id.
async fn entrants(
    tx: &mut PgTransaction<'_>,
    game_id: Uuid,
    statuses: &[PredictionStatus],
) -> Result<Vec<Entrant>> {
    Ok(sqlx::query_as!(
        Entrant,
        r#"SELECT id, user_id, position, stake AS "stake: Pmp", credit_id
         FROM predictions.predictions
         WHERE game_id = $1 AND status = ANY($2) ORDER BY id FOR UPDATE"#,
        game_id,
        statuses as &[PredictionStatus],
    )
    .fetch_all(&mut **tx)
    .await?)
}

/// One decision of a game's outcome (a settlement, or a correction of it).
struct Decision {
    winning_option: i16,
    /// The game's pool, shared by the winners.
    pool: Wei,
    /// The UTC day the credits belong to: the settlement's.
    day: NaiveDate,
    /// The end of the settlement's dispute window: the credits join no wave before it (P6).
    wave_eligible_at: DateTime<Utc>,
    /// The correction that decides, if not the settlement: part of the credits' keys.
    correction: Option<Uuid>,
}

/// P5, for settle and correct alike: decides `entrants`, none of which holds a credit (a
/// correction revokes them first). The winners share the pool in proportion to their stakes
/// ([`allocation::split_pool`]); each positive share is a PMC credit, and a `credit` event; the
/// winners are marked won, every other entrant lost. Returns what was credited.
async fn pay_winners(
    tx: &mut PgTransaction<'_>,
    game_id: Uuid,
    decision: &Decision,
    entrants: &[Entrant],
) -> Result<Wei> {
    let winners: Vec<&Entrant> = entrants
        .iter()
        .filter(|p| p.position == decision.winning_option)
        .collect();
    let stakes: Vec<Pmp> = winners.iter().map(|p| p.stake).collect();
    let shares = allocation::split_pool(decision.pool.as_u256(), &stakes);
    let mut minted = Wei::ZERO;
    for (p, share) in winners.iter().zip(shares) {
        let share = Wei::from_u256(share);
        let credit_id = if share.is_zero() {
            None
        } else {
            let key = match decision.correction {
                None => format!("prediction:{}", p.id),
                Some(c) => format!("prediction:{}:correction:{c}", p.id),
            };
            // A prediction win repays the winner's PMC debt first (I2, E3).
            let issued = credits::debts::issue(
                tx,
                CreditRequest {
                    user_id: p.user_id,
                    source: CreditSource::PredictionWin,
                    amount: share,
                    day: decision.day,
                    reference: Reference {
                        kind: ReferenceKind::Prediction,
                        id: p.id,
                    },
                    idempotency_key: key,
                    wave_eligible_at: Some(decision.wave_eligible_at),
                },
            )
            .await?;
            minted = minted
                .checked_add(share)
                .ok_or_else(|| PredictionError::overflow("the credits of a game"))?;
            events::user_event(
                tx,
                p.user_id,
                "credit",
                serde_json::json!({ "game_id": game_id, "prediction_id": p.id, "amount_wei": share, "day": decision.day }),
            )
            .await?;
            issued.credit.map(|c| c.id)
        };
        sqlx::query!(
            "UPDATE predictions.predictions SET status = 'won', credit_wei = $2, credit_id = $3, updated_at = now()
             WHERE id = $1",
            p.id,
            share as Wei,
            credit_id,
        )
        .execute(&mut **tx)
        .await?;
    }
    let ids: Vec<Uuid> = entrants
        .iter()
        .filter(|p| p.position != decision.winning_option)
        .map(|p| p.id)
        .collect();
    sqlx::query!(
        "UPDATE predictions.predictions SET status = 'lost', credit_wei = NULL, credit_id = NULL, updated_at = now()
         WHERE id = ANY($1)",
        &ids,
    )
    .execute(&mut **tx)
    .await?;
    Ok(minted)
}

/// Settles a CLOSED game at `now` (the API's clock: the settlement time, whose UTC day the
/// credits belong to and from which the dispute window runs; see the module docs).
#[tracing::instrument(skip(db, settings, meta), err(level = "info"))]
pub async fn settle(
    db: &PgPool,
    now: DateTime<Utc>,
    resolver: Uuid,
    game_id: Uuid,
    winning_option: i16,
    settings: &PredictionSettings,
    meta: &RequestMeta,
) -> Result<Settlement> {
    pools::catch_up(db, now, settings).await?;
    let mut tx = db.begin().await?;
    pools::lock(&mut tx).await?;
    let (status, options) = lock_game(&mut tx, game_id, now).await?;
    games::ensure_disinterested(&mut tx, game_id, resolver).await?;
    match status {
        GameStatus::Closed => {}
        GameStatus::Settled => return Err(PredictionError::AlreadySettled),
        GameStatus::Cancelled => return Err(PredictionError::Cancelled),
        GameStatus::Created | GameStatus::Active => return Err(PredictionError::NotClosed),
    }
    if !(0..options).contains(&winning_option) {
        return Err(PredictionError::OptionNotFound);
    }
    // A proposal that did not reach its stakers keeps nothing: what it received goes back now,
    // if the hour after its end has not sent it back already.
    pools::release_if_unqualified(&mut tx, game_id, now, settings).await?;
    let pool = pools::game_pool(&mut tx, game_id).await?;
    let live = entrants(&mut tx, game_id, &[PredictionStatus::Live]).await?;
    let day = now.date_naive();
    let dispute_ends_at = now + dispute_window(settings)?;
    let decision = Decision {
        winning_option,
        pool,
        day,
        wave_eligible_at: dispute_ends_at,
        correction: None,
    };
    let minted = pay_winners(&mut tx, game_id, &decision, &live).await?;
    let winners = live.iter().filter(|p| p.position == winning_option);
    let winning_stakes = total(winners.clone().map(|p| p.stake))?;
    let burned = total(live.iter().map(|p| p.stake))?;
    if burned > Pmp::ZERO {
        ledger::transfer(
            &mut tx,
            TransferRequest {
                from: Account::game_escrow(game_id),
                to: Account::BURN,
                amount: burned,
                kind: TransferKind::StakeSettlement,
                reference: Reference {
                    kind: ReferenceKind::Game,
                    id: game_id,
                },
                idempotency_key: Some(format!("settle:{game_id}")),
                memo: None,
            },
        )
        .await?;
    }
    sqlx::query!(
        "UPDATE predictions.games SET status = 'settled', winning_option = $2, settled_at = $3, updated_at = now() WHERE id = $1",
        game_id,
        winning_option,
        now,
    )
    .execute(&mut *tx)
    .await?;
    let settlement = Settlement {
        game_id,
        winning_option,
        settled_by: resolver,
        settled_at: now,
        day,
        pool_pmc: pool.to_pmc_string(),
        pool,
        minted_pmc: minted.to_pmc_string(),
        minted,
        winning_stakes,
        winners: i32::try_from(winners.count()).unwrap_or(i32::MAX),
        burned_stakes: burned,
        dispute_ends_at: Some(dispute_ends_at),
    };
    sqlx::query!(
        "INSERT INTO predictions.settlements (game_id, winning_option, settled_by, settled_at, day, pool, minted,
             winning_stakes, winners, burned_stakes, dispute_ends_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        game_id,
        winning_option,
        resolver,
        now,
        day,
        pool as Wei,
        minted as Wei,
        winning_stakes as Pmp,
        settlement.winners,
        burned as Pmp,
        dispute_ends_at,
    )
    .execute(&mut *tx)
    .await?;
    let payload =
        serde_json::to_value(&settlement).map_err(|e| PredictionError::Internal(e.into()))?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::PredictionGameSettled,
            actor: Some(resolver),
            subject: None,
            meta,
            details: payload.clone(),
        },
    )
    .await?;
    events::game_event(&mut tx, game_id, "settled", payload).await?;
    for p in &live {
        events::user_event(
            &mut tx,
            p.user_id,
            "settlement",
            serde_json::json!({ "game_id": game_id, "prediction_id": p.id, "won": p.position == winning_option }),
        )
        .await?;
    }
    tx.commit().await?;
    metrics::counter!("posmul_prediction_settlements_total").increment(1);
    tracing::info!(%game_id, winners = settlement.winners, minted = %minted, "game settled");
    Ok(settlement)
}

/// What a cancellation gave back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancellation {
    /// PMP refunded to the stakers.
    pub refunded: Pmp,
    /// PMC of the hourly pools the game had received, returned to the day's budget (M2).
    pub released: Wei,
}

/// Cancels a game that is not final at `now`, refunding every live stake (P3, E2) and returning
/// what it received from the hourly pools to the day's budget (M2); by `actor`, who neither
/// created nor staked in it (P6), in the audit log.
#[tracing::instrument(skip(db, settings, meta), err(level = "info"))]
pub async fn cancel(
    db: &PgPool,
    now: DateTime<Utc>,
    actor: Uuid,
    game_id: Uuid,
    settings: &PredictionSettings,
    meta: &RequestMeta,
) -> Result<Cancellation> {
    // The hours up to now first, so the release holds every allocation the game received.
    pools::catch_up(db, now, settings).await?;
    let mut tx = db.begin().await?;
    pools::lock(&mut tx).await?;
    let (status, _) = lock_game(&mut tx, game_id, now).await?;
    games::ensure_disinterested(&mut tx, game_id, actor).await?;
    if matches!(status, GameStatus::Settled | GameStatus::Cancelled) {
        return Err(PredictionError::Final(status));
    }
    let live = entrants(&mut tx, game_id, &[PredictionStatus::Live]).await?;
    let refunded = total(live.iter().map(|p| p.stake))?;
    if refunded > Pmp::ZERO {
        let mut legs = vec![Leg {
            account: Account::game_escrow(game_id),
            amount: refunded
                .checked_neg()
                .ok_or_else(|| PredictionError::overflow("a refund"))?,
        }];
        legs.extend(live.iter().map(|p| Leg {
            account: Account::user(p.user_id),
            amount: p.stake,
        }));
        ledger::post(
            &mut tx,
            Entry {
                legs,
                kind: TransferKind::StakeRefund,
                reference: Reference {
                    kind: ReferenceKind::Game,
                    id: game_id,
                },
                idempotency_key: Some(format!("cancel:{game_id}")),
                memo: Some("game cancelled: stakes refunded".into()),
            },
        )
        .await?;
    }
    sqlx::query!(
        "UPDATE predictions.predictions SET status = 'refunded', updated_at = now() WHERE game_id = $1 AND status = 'live'",
        game_id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE predictions.options SET total_staked = 0, stakers = 0 WHERE game_id = $1",
        game_id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE predictions.games SET status = 'cancelled', cancelled_at = $2, participants = 0, total_staked = 0,
             updated_at = now() WHERE id = $1",
        game_id,
        now,
    )
    .execute(&mut *tx)
    .await?;
    let released = pools::release(&mut tx, game_id, now, pools::ReleaseReason::Cancelled).await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::PredictionGameCancelled,
            actor: Some(actor),
            subject: None,
            meta,
            details: serde_json::json!({
                "game_id": game_id,
                "status": status,
                "refunded": refunded,
                "released_wei": released,
            }),
        },
    )
    .await?;
    events::game_event(
        &mut tx,
        game_id,
        "cancelled",
        serde_json::json!({ "refunded": refunded, "released_wei": released }),
    )
    .await?;
    for p in &live {
        events::user_event(
            &mut tx,
            p.user_id,
            "refund",
            serde_json::json!({ "game_id": game_id, "amount": p.stake }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Cancellation { refunded, released })
}

/// Corrects a settled game's outcome (admin; see the module docs).
#[tracing::instrument(skip(db, req), err(level = "info"))]
pub async fn correct(
    db: &PgPool,
    now: DateTime<Utc>,
    admin: Uuid,
    game_id: Uuid,
    req: &CorrectionRequest,
    meta: &RequestMeta,
) -> Result<Correction> {
    let reason = req.reason.trim();
    if !(10..=1000).contains(&reason.chars().count()) {
        return Err(PredictionError::ReasonLength);
    }
    let mut tx = db.begin().await?;
    let (status, options) = lock_game(&mut tx, game_id, now).await?;
    games::ensure_disinterested(&mut tx, game_id, admin).await?;
    if status != GameStatus::Settled {
        return Err(PredictionError::NotSettled);
    }
    if !(0..options).contains(&req.winning_option) {
        return Err(PredictionError::OptionNotFound);
    }
    // A settled game has a winner (the games_settled_has_winner constraint).
    let previous = sqlx::query_scalar!(
        r#"SELECT winning_option AS "winning_option!" FROM predictions.games WHERE id = $1"#,
        game_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if previous == req.winning_option {
        return Err(PredictionError::CorrectionChangesNothing);
    }
    let settled = sqlx::query!(
        r#"SELECT pool AS "pool: Wei", day, dispute_ends_at FROM predictions.settlements WHERE game_id = $1"#,
        game_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    // P6: only within the window; a settlement from before the window existed has none.
    let dispute_ends_at = match settled.dispute_ends_at {
        Some(end) if now < end => end,
        _ => return Err(PredictionError::DisputeWindowClosed),
    };
    let mut decided = entrants(
        &mut tx,
        game_id,
        &[PredictionStatus::Won, PredictionStatus::Lost],
    )
    .await?;
    // The outcome it replaces is taken back whole: its credits are still pending (no wave takes
    // them before the window's end; one that a wave took anyway refuses, and so does this).
    let mut revoked = Wei::ZERO;
    let id = Uuid::now_v7();
    for p in &mut decided {
        // What its credit repaid of the winner's debt is owed again (I2, E3).
        credits::debts::restore_repayments(
            &mut tx,
            p.user_id,
            Reference {
                kind: ReferenceKind::Prediction,
                id: p.id,
            },
            &format!("prediction:{}:correction:{id}:restore", p.id),
        )
        .await?;
        if let Some(credit) = p.credit_id.take() {
            let amount = credits::revoke(&mut tx, credit)
                .await
                .map_err(|e| match e {
                    CreditError::Irrevocable { .. } => PredictionError::DisputeWindowClosed,
                    other => other.into(),
                })?;
            revoked = revoked
                .checked_add(amount)
                .ok_or_else(|| PredictionError::overflow("the credits of a game"))?;
        }
    }
    let decision = Decision {
        winning_option: req.winning_option,
        pool: settled.pool,
        day: settled.day,
        wave_eligible_at: dispute_ends_at,
        correction: Some(id),
    };
    let minted = pay_winners(&mut tx, game_id, &decision, &decided).await?;
    // The trigger that keeps a settled game immutable lets this one column change, here only.
    sqlx::query_scalar!("SELECT set_config('predictions.correction', 'on', true)")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query!(
        "UPDATE predictions.games SET winning_option = $2, updated_at = now() WHERE id = $1",
        game_id,
        req.winning_option,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar!("SELECT set_config('predictions.correction', 'off', true)")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO predictions.corrections (id, game_id, previous_option, corrected_option, reason, corrected_by, minted,
             revoked)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        game_id,
        previous,
        req.winning_option,
        reason,
        admin,
        minted as Wei,
        revoked as Wei,
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        audit::Entry {
            action: audit::Action::PredictionSettlementCorrected,
            actor: Some(admin),
            subject: None,
            meta,
            details: serde_json::json!({
                "correction_id": id,
                "game_id": game_id,
                "previous_option": previous,
                "corrected_option": req.winning_option,
                "reason": reason,
                "minted_wei": minted,
                "revoked_wei": revoked,
            }),
        },
    )
    .await?;
    events::game_event(
        &mut tx,
        game_id,
        "corrected",
        serde_json::json!({ "previous_option": previous, "winning_option": req.winning_option }),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(%game_id, previous, corrected = req.winning_option, %admin, "settlement corrected");
    Ok(Correction {
        id,
        game_id,
        previous_option: previous,
        corrected_option: req.winning_option,
        reason: reason.to_owned(),
        corrected_by: admin,
        minted,
        revoked,
    })
}

/// The dispute window as a time span.
fn dispute_window(settings: &PredictionSettings) -> Result<chrono::Duration> {
    chrono::Duration::from_std(settings.dispute_window)
        .map_err(|e| PredictionError::Internal(anyhow::anyhow!("the dispute window: {e}")))
}

/// A game's settlement, if any.
pub async fn get(db: &PgPool, game_id: Uuid) -> Result<Settlement> {
    let r = sqlx::query!(
        r#"SELECT game_id, winning_option, settled_by, settled_at, day, pool AS "pool: Wei",
                minted AS "minted: Wei", winning_stakes AS "winning_stakes: Pmp", winners,
                burned_stakes AS "burned_stakes: Pmp", dispute_ends_at
         FROM predictions.settlements WHERE game_id = $1"#,
        game_id,
    )
    .fetch_optional(db)
    .await?
    .ok_or(PredictionError::SettlementNotFound)?;
    Ok(Settlement {
        game_id: r.game_id,
        winning_option: r.winning_option,
        settled_by: r.settled_by,
        settled_at: r.settled_at,
        day: r.day,
        pool_pmc: r.pool.to_pmc_string(),
        pool: r.pool,
        minted_pmc: r.minted.to_pmc_string(),
        minted: r.minted,
        winning_stakes: r.winning_stakes,
        winners: r.winners,
        burned_stakes: r.burned_stakes,
        dispute_ends_at: r.dispute_ends_at,
    })
}
