//! The life of a credit after [`super::issue`] (E3): `pending` → `in_wave` (the relayer put all
//! of it in waves) → `claimed` (the chain's mirror shows a final claim covering it). These moves
//! carry no value; only the relayer makes them, and only through these functions. A credit
//! joins a wave only once its `wave_eligible_at` (if any) is not after the relayer's time;
//! revoking one ([`super::revoke`]) is its issuer's move, not the relayer's.
//!
//! **Parts (M8).** A wave may carry a credit in part: the relayer records each part in
//! `relayer.wave_credits` (one row per credit and wave). A credit stays `pending` while its parts
//! fall short of its amount, its rest first in line for the next wave; it turns `in_wave`, with
//! the date of the wave of its last part, once they cover it. Such a credit can no longer be
//! revoked, and a revoked one never gets a part (the parts triggers check both). The one move
//! back is [`release_wave`]: a wave stored but never published that the relayer rebuilds gives
//! its parts back, and the credits whose last part it carried return to `pending`.

use alloy::primitives::{Address, U256};
use chrono::{DateTime, NaiveDate, Utc};
use posmul_core::{WalletAddress, money::Wei};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{CreditError, Result};

/// A pending credit that may join a wave: what is left of it and the wallet it is paid to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveCandidate {
    pub id: Uuid,
    /// What no wave carries yet: the credit's amount minus its parts in earlier waves (M8).
    pub amount: U256,
    pub address: Address,
}

/// The pending credits of `date` or earlier whose user has a wallet and whose
/// `wave_eligible_at` (a settlement's dispute window, P6) is not after `now`, in wave order
/// (earning day, creation time, id), each with what is left of it (M8), locked until the
/// caller's transaction ends (M3: older first). A credit that was split keeps its place: it is
/// still the earliest in that order (its window was over when its first part joined a wave).
pub async fn pending_for_wave(
    conn: &mut PgConnection,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<WaveCandidate>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.amount - COALESCE(p.waved, 0) AS "left!: Wei", w.address AS "address: WalletAddress"
           FROM credits.credits c
           JOIN auth.wallets w ON w.user_id = c.user_id
           LEFT JOIN LATERAL (SELECT sum(wc.amount) AS waved FROM relayer.wave_credits wc
                              WHERE wc.credit_id = c.id) p ON true
           WHERE c.state = 'pending' AND c.day <= $1
             AND (c.wave_eligible_at IS NULL OR c.wave_eligible_at <= $2)
           ORDER BY c.day, c.created_at, c.id
           FOR UPDATE OF c"#,
        date,
        now,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        // A pending credit that its parts already cover cannot be written (the parts and the
        // state change in one transaction); the relayer's reconciliation reports one if seen.
        .filter(|r| !r.left.is_zero())
        .map(|r| WaveCandidate {
            id: r.id,
            amount: r.left.as_u256(),
            address: r.address.get(),
        })
        .collect())
}

/// After the relayer recorded wave `date`'s parts of `ids` (all locked by [`pending_for_wave`]
/// in the same transaction, so all still pending), moves to `in_wave` of that wave those whose
/// parts now cover them; a credit the wave carries only in part stays `pending` (M8). Returns
/// how many moved.
pub async fn mark_in_wave(conn: &mut PgConnection, date: NaiveDate, ids: &[Uuid]) -> Result<u64> {
    let pending = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM credits.credits WHERE id = ANY($1) AND state = 'pending'"#,
        ids,
    )
    .fetch_one(&mut *conn)
    .await?;
    if pending != ids.len() as i64 {
        return Err(CreditError::Corrupt(format!(
            "{} of {} credits were no longer pending",
            ids.len() as i64 - pending,
            ids.len()
        )));
    }
    let moved = sqlx::query!(
        "UPDATE credits.credits c SET state = 'in_wave', wave_day = $1
         FROM (SELECT credit_id, sum(amount) AS waved FROM relayer.wave_credits
               WHERE credit_id = ANY($2) GROUP BY credit_id) p
         WHERE c.id = p.credit_id AND c.state = 'pending' AND p.waved = c.amount",
        date,
        ids,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(moved)
}

/// Gives back the parts that wave `day` (dated `date`) carries, before the relayer deletes them:
/// the credits whose last part it carried return from `in_wave` to `pending` (the others were
/// still pending). Only for a wave that was never published and never will be (M8), which the
/// caller has established; a claimed credit in it is [`CreditError::Corrupt`]. Returns how many
/// credits returned.
pub async fn release_wave(conn: &mut PgConnection, day: u64, date: NaiveDate) -> Result<u64> {
    let day = i64::try_from(day).map_err(|_| CreditError::Corrupt(format!("wave day {day}")))?;
    let r = sqlx::query!(
        r#"WITH carried AS (
               SELECT c.id, c.state, c.wave_day FROM credits.credits c
               JOIN relayer.wave_credits wc ON wc.credit_id = c.id AND wc.day = $1
               FOR UPDATE OF c
           ), released AS (
               UPDATE credits.credits c SET state = 'pending', wave_day = NULL
               FROM carried k
               WHERE c.id = k.id AND k.state = 'in_wave' AND k.wave_day = $2
               RETURNING 1
           )
           SELECT (SELECT count(*) FROM released) AS "released!",
                  (SELECT count(*) FROM carried WHERE state <> 'pending') AS "waved!""#,
        day,
        date,
    )
    .fetch_one(&mut *conn)
    .await?;
    if r.released != r.waved {
        return Err(CreditError::Corrupt(format!(
            "wave {day} carries {} credits that left pending but only {} can return",
            r.waved, r.released
        )));
    }
    Ok(r.released as u64)
}

/// Marks credits `claimed`; returns how many changed.
///
/// **Rule.** The parts of an address's credits are ordered as they entered the tree: by wave
/// day, then in the wave's order (earning day, creation time, id). A part is covered once the
/// address's claimed cumulative amount on chain reaches the sum of the address's parts up to and
/// including it; a credit is claimed once every one of its parts is covered, so a credit split
/// across waves (M8) waits for the claim that covers its last part. `claimed(address)` is the
/// highest `cumulativeAmount` of the address's *finalized* `Claimed` events in the indexer's
/// mirror (`chain.wave_claims`) on `chain_id`, so a state that a reorg could take back is never
/// written. Because a claim pays an address its whole entitlement at the root it proves against,
/// and the entitlement after wave d is the sum of the address's parts in waves ≤ d (M4), a claim
/// against wave d's root covers exactly the address's parts in waves ≤ d.
#[tracing::instrument(skip_all, err)]
pub async fn mark_claimed(db: impl sqlx::PgExecutor<'_>, chain_id: u64) -> Result<u64> {
    let chain = chain_id as i64;
    let marked = sqlx::query!(
        "WITH claimed AS (
             SELECT account, max(cumulative_amount) AS cumulative
             FROM chain.wave_claims WHERE chain_id = $1 AND finalized
             GROUP BY account
         ), parts AS (
             SELECT wc.credit_id, wc.address,
                    sum(wc.amount) OVER (PARTITION BY wc.address
                                         ORDER BY wc.day, c.day, c.created_at, c.id
                                         ROWS UNBOUNDED PRECEDING) AS upto
             FROM relayer.wave_credits wc
             JOIN relayer.waves w ON w.day = wc.day AND w.chain_id = $1
             JOIN credits.credits c ON c.id = wc.credit_id
             WHERE wc.address IN (SELECT x.address FROM relayer.wave_credits x
                                  JOIN credits.credits y ON y.id = x.credit_id
                                  WHERE y.state = 'in_wave')
         ), covered AS (
             SELECT p.credit_id
             FROM parts p LEFT JOIN claimed k ON k.account = p.address
             GROUP BY p.credit_id
             HAVING bool_and(k.cumulative IS NOT NULL AND p.upto <= k.cumulative)
         )
         UPDATE credits.credits c SET state = 'claimed', claimed_at = now()
         FROM covered o
         WHERE c.id = o.credit_id AND c.state = 'in_wave'",
        chain,
    )
    .execute(db)
    .await?
    .rows_affected();
    if marked > 0 {
        metrics::counter!("posmul_relayer_credits_claimed_total").increment(marked);
        tracing::info!(credits = marked, "credits claimed on chain");
    }
    Ok(marked)
}
