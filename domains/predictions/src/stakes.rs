//! Stakes (P4, E2): placing, quoting and withdrawing a prediction.
//!
//! A stake moves PMP from the user's account to the game's escrow through the ledger
//! ([`posmul_economy::ledger::transfer`], kind `stake`), in the same transaction as the prediction row
//! and the cached totals, under the game's row lock; withdrawing moves it back (kind
//! `stake_refund`). Lock order everywhere: the game row, then the prediction, then the ledger's
//! accounts — so stakes, withdrawals, settlement and cancellation never deadlock.
//!
//! Rules, each with its own problem `type`: the game is ACTIVE by its times (`game-not-active`),
//! the option exists (`option-not-found`), min ≤ stake ≤ max (`stake-below-minimum`,
//! `stake-above-maximum`), the participant cap (`game-full`), one prediction per user per game
//! (`already-predicted`, backed by the unique index `predictions_one_per_user_game`), and the
//! balance (`insufficient-pmp`, E1).
//!
//! Placement takes an `Idempotency-Key` header through the API's one idempotency mechanism
//! ([`posmul_api_kit::idempotency`]): the same key with the same request returns the original response
//! and moves nothing; the same key with another request is a 409 `idempotency-key-reused`. A
//! `dry_run` quote moves nothing and needs no key.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use posmul_api_kit::{
    ApiError,
    error::ApiJson,
    idempotency::{self, Begun, Idempotent},
    pagination::{Page, PageParams},
};
use posmul_core::money::{Pmp, Wei};
use posmul_economy::ledger::{
    self, Account, LedgerError, Reference, ReferenceKind, TransferKind, TransferRequest,
};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, PgTransaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    allocation,
    error::{PredictionError, Result, StakeAction},
    events, pools,
    types::{GameStatus, PredictionStatus},
};

/// `POST /v1/predictions/games/{id}/stakes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StakeRequest {
    /// The option's position (0-based).
    pub option: i16,
    /// PMP to stake.
    #[schema(value_type = i64, minimum = 1)]
    pub amount: Pmp,
    /// Only quote: check the rules and show the implied share, move nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a stake would earn if its option won now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    pub option: i16,
    #[schema(value_type = i64)]
    pub amount: Pmp,
    /// The game's pool so far, in wei.
    #[schema(value_type = String)]
    pub pool_wei: Wei,
    /// PMP on the option including this stake.
    #[schema(value_type = i64)]
    pub option_total_after: Pmp,
    /// pool × amount ÷ option_total_after, floored, in wei.
    #[schema(value_type = String)]
    pub implied_credit_wei: Wei,
    pub implied_credit_pmc: String,
}

/// A placed (or withdrawn) prediction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Prediction {
    pub id: Uuid,
    pub game_id: Uuid,
    pub user_id: Uuid,
    pub option: i16,
    #[schema(value_type = i64)]
    pub stake: Pmp,
    pub status: PredictionStatus,
    /// The user's PMP balance after the movement.
    #[schema(value_type = Option<i64>)]
    pub balance_after: Option<Pmp>,
}

/// The response of a stake request: a quote (dry run) or the placed prediction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StakeOutcome {
    Quote(Quote),
    Placed(Prediction),
}

/// The `Idempotency-Key` of a placement: required unless the request is a `dry_run` quote.
#[derive(Debug, Clone)]
pub struct MaybeIdempotent(pub Option<Idempotent>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeIdempotent {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> std::result::Result<Self, ApiError> {
        if parts.headers.contains_key(idempotency::HEADER) {
            Ok(MaybeIdempotent(Some(
                Idempotent::from_request_parts(parts, state).await?,
            )))
        } else {
            Ok(MaybeIdempotent(None))
        }
    }
}

/// Places (or, with `dry_run`, quotes) a stake, answering as an HTTP response: a quote (200)
/// needs no key and moves nothing; a placement (201) needs `key` and runs in its transaction.
#[tracing::instrument(skip(db, req, key), fields(option = req.option, amount = %req.amount), err(level = "info"))]
pub async fn place(
    db: &PgPool,
    now: DateTime<Utc>,
    user: Uuid,
    game_id: Uuid,
    req: &StakeRequest,
    key: Option<Idempotent>,
) -> Result<Response> {
    if req.dry_run {
        let mut tx = db.begin().await?;
        let out = place_in(&mut tx, now, user, game_id, req).await?;
        tx.rollback().await?;
        return Ok((StatusCode::OK, ApiJson(out)).into_response());
    }
    let key = key.ok_or(PredictionError::MissingIdempotencyKey)?;
    let mut work = match key.begin(db, user, &(game_id, req)).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Fresh(work) => work,
    };
    let out = place_in(work.tx(), now, user, game_id, req).await?;
    let response = work.commit(StatusCode::CREATED, &out).await?;
    metrics::counter!("posmul_prediction_stakes_total").increment(1);
    Ok(response)
}

/// The rules and the effect of a stake in `tx` (a quote when `req.dry_run`: the caller rolls
/// back). The game's status is the one its times imply at `now`. See the module docs.
pub async fn place_in(
    tx: &mut PgTransaction<'_>,
    now: DateTime<Utc>,
    user: Uuid,
    game_id: Uuid,
    req: &StakeRequest,
) -> Result<StakeOutcome> {
    let game = sqlx::query!(
        r#"SELECT min_stake AS "min_stake: Pmp", max_stake AS "max_stake: Pmp", max_participants, participants,
                predictions.effective_status(status, starts_at, ends_at, $2) AS "status!: GameStatus"
         FROM predictions.games WHERE id = $1 FOR UPDATE"#,
        game_id,
        now,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(PredictionError::GameNotFound)?;
    if game.status != GameStatus::Active {
        return Err(PredictionError::NotActive {
            action: StakeAction::Place,
            status: game.status,
        });
    }
    let option_total = sqlx::query_scalar!(
        r#"SELECT total_staked AS "total_staked: Pmp" FROM predictions.options WHERE game_id = $1 AND position = $2"#,
        game_id,
        req.option,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(PredictionError::OptionNotFound)?;
    if req.amount < game.min_stake {
        return Err(PredictionError::StakeBelowMinimum(game.min_stake));
    }
    if req.amount > game.max_stake {
        return Err(PredictionError::StakeAboveMaximum(game.max_stake));
    }
    let existing = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM predictions.predictions
                          WHERE game_id = $1 AND user_id = $2 AND status <> 'withdrawn') AS "exists!""#,
        game_id,
        user,
    )
    .fetch_one(&mut **tx)
    .await?;
    if existing {
        return Err(PredictionError::AlreadyPredicted);
    }
    if game
        .max_participants
        .is_some_and(|cap| game.participants >= cap)
    {
        return Err(PredictionError::GameFull);
    }
    if req.dry_run {
        return quote(tx, user, game_id, req, option_total)
            .await
            .map(StakeOutcome::Quote);
    }

    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO predictions.predictions (id, game_id, user_id, position, stake) VALUES ($1, $2, $3, $4, $5)",
        id,
        game_id,
        user,
        req.option,
        req.amount as Pmp,
    )
    .execute(&mut **tx)
    .await
    .map_err(PredictionError::from_stake_insert)?;
    let transfer = ledger::transfer(
        tx,
        TransferRequest {
            from: Account::user(user),
            to: Account::game_escrow(game_id),
            amount: req.amount,
            kind: TransferKind::Stake,
            reference: Reference {
                kind: ReferenceKind::Prediction,
                id,
            },
            idempotency_key: Some(format!("stake:{id}")),
            memo: None,
        },
    )
    .await?;
    let totals = adjust_totals(tx, game_id, req.option, req.amount, Sign::Add).await?;
    events::game_event(
        tx,
        game_id,
        "stake",
        serde_json::json!({ "option": req.option, "amount": req.amount, "totals": totals }),
    )
    .await?;
    Ok(StakeOutcome::Placed(Prediction {
        id,
        game_id,
        user_id: user,
        option: req.option,
        stake: req.amount,
        status: PredictionStatus::Live,
        balance_after: transfer
            .leg(Account::user(user))
            .and_then(|l| l.balance_after),
    }))
}

/// A dry run's answer, once the rules passed: the balance covers the stake (E1) and what the
/// stake would earn if its option won now.
async fn quote(
    tx: &mut PgTransaction<'_>,
    user: Uuid,
    game_id: Uuid,
    req: &StakeRequest,
    option_total: Pmp,
) -> Result<Quote> {
    let account = Account::user(user);
    let balance = ledger::balance(tx, account).await?;
    if balance < req.amount {
        return Err(LedgerError::InsufficientFunds {
            account,
            balance,
            requested: req.amount,
        }
        .into());
    }
    let pool = pools::game_pool(tx, game_id).await?;
    let after = option_total
        .checked_add(req.amount)
        .ok_or_else(|| PredictionError::overflow("an option's total"))?;
    let implied = Wei::from_u256(
        allocation::split_pool(pool.as_u256(), &[req.amount, option_total])
            .first()
            .copied()
            .unwrap_or_default(),
    );
    Ok(Quote {
        option: req.option,
        amount: req.amount,
        pool_wei: pool,
        option_total_after: after,
        implied_credit_pmc: implied.to_pmc_string(),
        implied_credit_wei: implied,
    })
}

/// Whether a movement adds a stake to the cached totals or takes it away.
#[derive(Debug, Clone, Copy)]
enum Sign {
    Add,
    Remove,
}

/// Moves an option's and the game's cached totals by one stake of `amount`; returns the option
/// totals for the stream.
async fn adjust_totals(
    conn: &mut PgConnection,
    game_id: Uuid,
    option: i16,
    amount: Pmp,
    sign: Sign,
) -> sqlx::Result<serde_json::Value> {
    let (amount, count) = match sign {
        Sign::Add => (amount.get(), 1),
        // A stake is positive, so its negation never overflows.
        Sign::Remove => (-amount.get(), -1),
    };
    sqlx::query!(
        "UPDATE predictions.options SET total_staked = total_staked + $3, stakers = stakers + $4
         WHERE game_id = $1 AND position = $2",
        game_id,
        option,
        amount,
        count,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE predictions.games SET total_staked = total_staked + $2, participants = participants + $3, updated_at = now()
         WHERE id = $1",
        game_id,
        amount,
        count,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        r#"SELECT jsonb_agg(jsonb_build_object('option', position, 'total_staked', total_staked, 'stakers', stakers)
                            ORDER BY position) AS "totals!"
         FROM predictions.options WHERE game_id = $1"#,
        game_id,
    )
    .fetch_one(&mut *conn)
    .await
}

/// Withdraws the caller's live prediction while the game is ACTIVE: a full refund (E2).
/// Another user's prediction is `not-found`.
#[tracing::instrument(skip(db), err(level = "info"))]
pub async fn withdraw(
    db: &PgPool,
    now: DateTime<Utc>,
    user: Uuid,
    prediction_id: Uuid,
) -> Result<Prediction> {
    let game_id = sqlx::query_scalar!(
        "SELECT game_id FROM predictions.predictions WHERE id = $1 AND user_id = $2",
        prediction_id,
        user,
    )
    .fetch_optional(db)
    .await?
    .ok_or(PredictionError::PredictionNotFound)?;
    let mut tx: PgTransaction<'_> = db.begin().await?;
    let status = sqlx::query_scalar!(
        r#"SELECT predictions.effective_status(status, starts_at, ends_at, $2) AS "status!: GameStatus"
         FROM predictions.games WHERE id = $1 FOR UPDATE"#,
        game_id,
        now,
    )
    .fetch_one(&mut *tx)
    .await?;
    let p = sqlx::query!(
        r#"SELECT position, stake AS "stake: Pmp", status AS "status: PredictionStatus"
         FROM predictions.predictions WHERE id = $1 FOR UPDATE"#,
        prediction_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if p.status != PredictionStatus::Live {
        return Err(PredictionError::PredictionNotLive);
    }
    if status != GameStatus::Active {
        return Err(PredictionError::NotActive {
            action: StakeAction::Withdraw,
            status,
        });
    }
    let (option, stake) = (p.position, p.stake);
    let transfer = ledger::transfer(
        &mut tx,
        TransferRequest {
            from: Account::game_escrow(game_id),
            to: Account::user(user),
            amount: stake,
            kind: TransferKind::StakeRefund,
            reference: Reference {
                kind: ReferenceKind::Prediction,
                id: prediction_id,
            },
            idempotency_key: Some(format!("withdraw:{prediction_id}")),
            memo: None,
        },
    )
    .await?;
    sqlx::query!(
        "UPDATE predictions.predictions SET status = 'withdrawn', updated_at = now() WHERE id = $1",
        prediction_id,
    )
    .execute(&mut *tx)
    .await?;
    let totals = adjust_totals(&mut tx, game_id, option, stake, Sign::Remove).await?;
    events::game_event(
        &mut tx,
        game_id,
        "withdrawal",
        serde_json::json!({ "option": option, "amount": stake, "totals": totals }),
    )
    .await?;
    tx.commit().await?;
    Ok(Prediction {
        id: prediction_id,
        game_id,
        user_id: user,
        option,
        stake,
        status: PredictionStatus::Withdrawn,
        balance_after: transfer
            .leg(Account::user(user))
            .and_then(|l| l.balance_after),
    })
}

/// One of the caller's predictions, with its game.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyPrediction {
    pub id: Uuid,
    pub game_id: Uuid,
    pub game_title: String,
    /// The game's status now.
    pub game_status: GameStatus,
    pub option: i16,
    #[schema(value_type = i64)]
    pub stake: Pmp,
    pub status: PredictionStatus,
    #[schema(value_type = Option<String>)]
    pub credit_wei: Option<Wei>,
    pub created_at: DateTime<Utc>,
}

/// The caller's predictions, newest first, one cursor page at a time.
#[tracing::instrument(skip(db), err(level = "info"))]
pub async fn list_mine(
    db: &PgPool,
    now: DateTime<Utc>,
    user: Uuid,
    page: &PageParams,
) -> Result<Page<MyPrediction>> {
    let limit = page.limit()?;
    let after: Option<(DateTime<Utc>, Uuid)> = page.after()?;
    let items = sqlx::query_as!(
        MyPrediction,
        r#"SELECT p.id, p.game_id, g.title AS game_title,
                predictions.effective_status(g.status, g.starts_at, g.ends_at, $5) AS "game_status!: GameStatus",
                p.position AS option, p.stake AS "stake: Pmp", p.status AS "status: PredictionStatus",
                p.credit_wei AS "credit_wei: Wei", p.created_at
         FROM predictions.predictions p JOIN predictions.games g ON g.id = p.game_id
         WHERE p.user_id = $1 AND ($2::TIMESTAMPTZ IS NULL OR (p.created_at, p.id) < ($2, $3))
         ORDER BY p.created_at DESC, p.id DESC LIMIT $4"#,
        user,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit + 1,
        now,
    )
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(items, limit, |p| (p.created_at, p.id)))
}
