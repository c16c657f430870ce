//! Monthly partitions created ahead of time.
//!
//! `ledger.postings`, `auth.audit_log` and the chain mirror's event tables are partitioned by
//! month (migration `monthly_partitions`). A row whose month has no partition lands in the
//! table's DEFAULT partition, and once it holds rows of a month that month's partition can no
//! longer be created; so the API creates the current month and `PARTITION_MONTHS_AHEAD` months
//! ahead at start-up and then daily ([`spawn`]), through `partitions.ensure_months`, which runs
//! with the owner's rights (the API's role cannot create tables) and serialises concurrent
//! callers, so every replica may run it.

use std::time::Duration;

use sqlx::PgPool;

/// How often the partitions are checked once the first check succeeded.
pub const INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// How soon a failed check is tried again: a month boundary must not pass without partitions.
pub const RETRY: Duration = Duration::from_secs(3600);

/// Why the partitions could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("partitions.ensure_months failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Creates the missing monthly partitions of every partitioned table, from the current month
/// through `ahead` months ahead; returns how many it created and counts them in
/// `posmul_partitions_created_total`.
pub async fn ensure_months(db: &PgPool, ahead: u32) -> Result<u64, PartitionError> {
    // The configuration bounds `ahead` far below i32::MAX; the function refuses anything above.
    let ahead = i32::try_from(ahead).unwrap_or(i32::MAX);
    let created = sqlx::query_scalar!(
        r#"SELECT partitions.ensure_months($1) AS "created!""#,
        ahead
    )
    .fetch_one(db)
    .await?;
    let created = u64::try_from(created).unwrap_or(0);
    metrics::counter!("posmul_partitions_created_total").increment(created);
    Ok(created)
}

/// Runs [`ensure_months`] now and then every [`INTERVAL`] (every [`RETRY`] after a failure)
/// until aborted.
pub fn spawn(db: PgPool, ahead: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let wait = match ensure_months(&db, ahead).await {
                Ok(0) => {
                    tracing::debug!(ahead, "the monthly partitions are all there");
                    INTERVAL
                }
                Ok(created) => {
                    tracing::info!(created, ahead, "monthly partitions created");
                    INTERVAL
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = RETRY.as_secs(), "creating the monthly partitions failed");
                    RETRY
                }
            };
            tokio::time::sleep(wait).await;
        }
    })
}
