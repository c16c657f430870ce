//! The life of a credit after [`super::issue`] (E3): `pending` → `in_wave` (the relayer put it
//! in wave d) → `claimed` (the chain's mirror shows a final claim covering it). These moves
//! carry no value; only the relayer makes them, and only through these functions. A credit
//! joins a wave only once its `wave_eligible_at` (if any) is not after the relayer's time;
//! revoking one ([`super::revoke`]) is its issuer's move, not the relayer's.

use alloy::primitives::{Address, U256};
use chrono::{DateTime, NaiveDate, Utc};
use posmul_core::{WalletAddress, money::Wei};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{CreditError, Result};

/// A pending credit that may join a wave: its amount and the wallet it is paid to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveCandidate {
    pub id: Uuid,
    pub amount: U256,
    pub address: Address,
}

/// The pending credits of `date` or earlier whose user has a wallet and whose
/// `wave_eligible_at` (a settlement's dispute window, P6) is not after `now`, in wave order
/// (earning day, creation time, id), locked until the caller's transaction ends (M3: older
/// first).
pub async fn pending_for_wave(
    conn: &mut PgConnection,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<WaveCandidate>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.amount AS "amount: Wei", w.address AS "address: WalletAddress"
           FROM credits.credits c
           JOIN auth.wallets w ON w.user_id = c.user_id
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
        .map(|r| WaveCandidate {
            id: r.id,
            amount: r.amount.as_u256(),
            address: r.address.get(),
        })
        .collect())
}

/// Moves `ids` from `pending` to `in_wave` of the wave of `date`; every one must still be
/// pending (they were locked by [`pending_for_wave`] in the same transaction).
pub async fn mark_in_wave(conn: &mut PgConnection, date: NaiveDate, ids: &[Uuid]) -> Result<()> {
    let updated = sqlx::query!(
        "UPDATE credits.credits SET state = 'in_wave', wave_day = $1 WHERE id = ANY($2) AND state = 'pending'",
        date,
        ids,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != ids.len() as u64 {
        return Err(CreditError::Corrupt(format!(
            "{} of {} credits were no longer pending",
            ids.len() as u64 - updated,
            ids.len()
        )));
    }
    Ok(())
}

/// Marks credits `claimed`; returns how many changed.
///
/// **Rule.** The credits of an address are ordered as they entered the tree: by wave day, then
/// in the wave's order (earning day, creation time, id). A credit is claimed once the
/// address's claimed cumulative amount on chain covers it, i.e. once
/// `claimed(address) ≥ sum of the amounts of the address's credits up to and including it`.
/// `claimed(address)` is the highest `cumulativeAmount` of the address's *finalized*
/// `Claimed` events in the indexer's mirror (`chain.wave_claims`) on `chain_id`, so a state
/// that a reorg could take back is never written. Because a claim pays an address its whole
/// entitlement at the root it proves against, and the entitlement after wave d is the sum of
/// the address's credits in waves ≤ d (M4), a claim against wave d's root marks exactly the
/// address's credits of waves ≤ d.
#[tracing::instrument(skip_all, err)]
pub async fn mark_claimed(db: impl sqlx::PgExecutor<'_>, chain_id: u64) -> Result<u64> {
    let chain = chain_id as i64;
    let marked = sqlx::query!(
        "WITH claimed AS (
             SELECT account, max(cumulative_amount) AS cumulative
             FROM chain.wave_claims WHERE chain_id = $1 AND finalized
             GROUP BY account
         ), owed AS (
             SELECT wc.credit_id, k.cumulative AS claimed,
                    sum(wc.amount) OVER (PARTITION BY wc.address
                                         ORDER BY wc.day, c.day, c.created_at, c.id
                                         ROWS UNBOUNDED PRECEDING) AS upto
             FROM relayer.wave_credits wc
             JOIN relayer.waves w ON w.day = wc.day AND w.chain_id = $1
             JOIN claimed k ON k.account = wc.address
             JOIN credits.credits c ON c.id = wc.credit_id
             WHERE wc.address IN (SELECT x.address FROM relayer.wave_credits x
                                  JOIN credits.credits y ON y.id = x.credit_id
                                  WHERE y.state = 'in_wave')
         )
         UPDATE credits.credits c SET state = 'claimed', claimed_at = now()
         FROM owed o
         WHERE c.id = o.credit_id AND c.state = 'in_wave' AND o.upto <= o.claimed",
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
