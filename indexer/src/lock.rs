//! One writer per chain: a PostgreSQL session advisory lock.
//!
//! The leader holds the lock on the very connection it writes with, so losing the connection
//! loses the lock and the writes together. Other instances poll `pg_try_advisory_lock` as hot
//! standbys and take over when the leader's session ends (crash, kill, network loss).

use std::time::Duration;

use sqlx::{ConnectOptions, PgConnection, PgPool};

use crate::{
    backoff::Backoff,
    status::{Role, Status},
};

/// The advisory lock key of a chain: "posm" in the high 32 bits, the chain id in the low.
pub fn lock_key(chain_id: u64) -> i64 {
    (0x706f_736d_i64 << 32) | (chain_id & 0xffff_ffff) as i64
}

/// Waits until this instance holds the chain's lock; returns the connection holding it.
pub async fn acquire(
    pool: &PgPool,
    chain_id: u64,
    poll: Duration,
    backoff: Backoff,
    status: &Status,
) -> PgConnection {
    let key = lock_key(chain_id);
    let mut failures = 0u32;
    loop {
        let mut conn = match pool.connect_options().connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect to PostgreSQL for the advisory lock; retrying");
                tokio::time::sleep(backoff.delay(failures)).await;
                failures = failures.saturating_add(1);
                continue;
            }
        };
        failures = 0;
        let mut announced = false;
        loop {
            match sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await
            {
                Ok(true) => return conn,
                Ok(false) => {
                    if !announced {
                        tracing::info!(chain_id, "another indexer holds the lock: standing by");
                        announced = true;
                    }
                    status.set_role(Role::Standby);
                    tokio::time::sleep(poll).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "advisory lock query failed; reconnecting");
                    break;
                }
            }
        }
    }
}
