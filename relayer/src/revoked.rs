//! Delayed roots (DESIGN.md M6): what the relayer records of a root's delay, and what it does
//! when the guardian revokes a pending root.
//!
//! **Recording.** With each mined wave the relayer stores its `RootPending`: `claimable_at`, from
//! when claims use the root, and `pending_first_day`, the first day of the pending run (a wave
//! published while an earlier root was pending replaces it). The wave read side
//! (`posmul_economy::wave`) offers a root only once its delay has passed.
//!
//! **A revoked run.** `revokePendingRoot` sets `nextDay` back to the run's first day and burns
//! what the run minted. The relayer sees `nextDay` below its next wave, finds the `RootRevoked`
//! that explains it, and, once that log is final (a reorg could bring the run back), takes the
//! run's waves off in one transaction, last day first: each is recorded in
//! `relayer.wave_revocations`, its parts given back through the money book (its credits return
//! to `pending`, as for a rebuilt wave, M8) and its rows deleted. The days are then built and
//! published again from the credits as they are. A wave built above the run but never published
//! goes the same way once none of its transactions can still be mined. `nextDay` below the
//! database's next wave without a matching `RootRevoked` stays a divergence.

use alloy::{
    primitives::{B256, U256},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::{
    Error, Relayer, Result,
    contracts::MoneyWave,
    publisher::Attempts,
    wave::{self, Status},
};

/// Stores wave `day`'s `RootPending` (from the logs of the transaction that published it).
pub(crate) async fn record_pending(pool: &sqlx::PgPool, day: u64, logs: &[Log]) -> Result<()> {
    let Some(e) = logs
        .iter()
        .find_map(|l| MoneyWave::RootPending::decode_log(&l.inner).ok())
        .filter(|e| e.data.day == day)
    else {
        return Err(Error::Divergence {
            day,
            detail: "the publishing transaction emitted no RootPending".into(),
        });
    };
    let claimable_at = timestamp(e.data.claimableAt)?;
    sqlx::query!(
        "UPDATE relayer.waves SET claimable_at = $2, pending_first_day = $3 WHERE day = $1",
        day as i64,
        claimable_at,
        e.data.firstDay as i64,
    )
    .execute(pool)
    .await?;
    Ok(())
}

fn timestamp(t: U256) -> Result<DateTime<Utc>> {
    u64::try_from(t)
        .ok()
        .and_then(|t| i64::try_from(t).ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or_else(|| Error::Corrupt(format!("claimableAt {t}")))
}

/// What [`Relayer::unwind_revoked`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwound {
    /// No `RootRevoked` explains the chain's `nextDay`: a divergence for the caller.
    NoRevocation,
    /// A revocation explains it but cannot be acted on yet (not final, or a transaction above
    /// it may still be mined); the caller passes again later.
    Waiting,
    /// The run's waves were taken off; `first_day` is to be built again.
    Done,
}

impl Relayer {
    /// The chain's `nextDay` (`next_day`) is below the database's next wave: finds the
    /// revocation that reopened `next_day` and takes the revoked waves off (module docs).
    #[tracing::instrument(skip_all, fields(next_day), err)]
    pub(crate) async fn unwind_revoked(&self, next_day: u64) -> Result<Unwound> {
        let filter = Filter::new()
            .address(self.money_wave)
            .event_signature(MoneyWave::RootRevoked::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(next_day)))
            .from_block(self.deployment_block);
        let logs = self.provider().get_logs(&filter).await?;
        let Some(log) = logs.last() else {
            return Ok(Unwound::NoRevocation);
        };
        let e = MoneyWave::RootRevoked::decode_log(&log.inner).map_err(|e| Error::Divergence {
            day: next_day,
            detail: format!("undecodable RootRevoked: {e}"),
        })?;
        let (first_day, last_day, root) = (e.data.firstDay, e.data.lastDay, e.data.root);
        // The revoked root is the run's last wave's; anything else is not our run.
        match wave::load(&self.pool, last_day).await? {
            Some(w) if w.root == root && matches!(w.status, Status::Mined | Status::Finalized) => {}
            other => {
                return Err(Error::Divergence {
                    day: last_day,
                    detail: format!(
                        "RootRevoked names root {root} for days {first_day}..={last_day} but the stored wave is {:?}",
                        other.map(|w| (w.root, w.status))
                    ),
                });
            }
        }
        let block = log.block_number.unwrap_or(u64::MAX);
        if self.finalized_block().await? < block {
            tracing::info!(
                first_day,
                last_day,
                block,
                "the root was revoked; waiting until the revocation is final to rebuild its days"
            );
            tokio::time::sleep(self.sender.settings.poll_interval).await;
            return Ok(Unwound::Waiting);
        }
        // A wave built above the run (never published: nextDay was at most last_day + 1).
        let mut dead = Vec::new();
        if let Some(top) = wave::latest(&self.pool).await?
            && top.day > last_day
        {
            match self.publish_attempts(top.day).await? {
                Attempts::Dead(d) => dead = d,
                Attempts::Open | Attempts::Settling => {
                    tokio::time::sleep(self.sender.settings.poll_interval).await;
                    return Ok(Unwound::Waiting);
                }
            }
        }
        let revoked_tx = log
            .transaction_hash
            .ok_or_else(|| Error::Corrupt("log without transaction hash".into()))?;
        let mut tx = self.pool.begin().await?;
        let mut released = 0;
        let mut days = 0;
        while let Some(w) = wave::latest(&mut *tx).await?
            && w.day >= first_day
        {
            let run = Run {
                revoked_tx,
                root,
                first_day,
                last_day,
                guardian: e.data.account.to_vec(),
            };
            released += discard(&mut tx, &w, &run, &dead).await?;
            days += 1;
        }
        tx.commit().await?;
        metrics::counter!("posmul_relayer_waves_revoked_total").increment(days);
        tracing::warn!(
            first_day,
            last_day,
            root = %root,
            guardian = %e.data.account,
            burned = %e.data.burned,
            waves = days,
            released_credits = released,
            "the guardian revoked a pending root: its days are built and published again"
        );
        Ok(Unwound::Done)
    }
}

/// The revocation a discarded wave went with.
struct Run {
    revoked_tx: B256,
    root: B256,
    first_day: u64,
    last_day: u64,
    guardian: Vec<u8>,
}

/// Records wave `w` in `relayer.wave_revocations`, gives its parts back and deletes it.
async fn discard(
    conn: &mut PgConnection,
    w: &wave::Wave,
    run: &Run,
    dead_attempts: &[(i64, &'static str)],
) -> Result<u64> {
    let day = w.day as i64;
    sqlx::query!(
        "INSERT INTO relayer.wave_revocations (day, status, amount, root, allocation_hash, credit_count, tx_hash,
                                               claimable_at, revoked_tx, revoked_root, first_day, last_day, guardian)
         SELECT day, status, amount, root, allocation_hash, credit_count, tx_hash, claimable_at, $2, $3, $4, $5, $6
         FROM relayer.waves WHERE day = $1",
        day,
        run.revoked_tx.as_slice(),
        run.root.as_slice(),
        run.first_day as i64,
        run.last_day as i64,
        &run.guardian,
    )
    .execute(&mut *conn)
    .await?;
    for &(id, status) in dead_attempts {
        sqlx::query!(
            "UPDATE relayer.tx_attempts SET status = $2, error = COALESCE(error, 'the run below was revoked'), updated_at = now()
             WHERE id = $1 AND kind = 'publish_wave' AND subject = $3",
            id,
            status,
            day,
        )
        .execute(&mut *conn)
        .await?;
    }
    let released = posmul_economy::credits::lifecycle::release_wave(conn, w.day, w.date).await?;
    sqlx::query!("DELETE FROM relayer.wave_credits WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM relayer.wave_leaves WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM relayer.wave_trees WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM relayer.waves WHERE day = $1", day)
        .execute(&mut *conn)
        .await?;
    Ok(released)
}
