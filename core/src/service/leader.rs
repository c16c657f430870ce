//! One active instance per job: a PostgreSQL session-level advisory lock.
//!
//! The lock is taken on a dedicated connection opened for it (never a pooled one, which would
//! return to the pool still holding it), so the lock lives exactly as long as that session: a
//! crash, a kill or a network loss ends the session and frees the lock for a standby. A leader
//! that writes through the lock's own connection ([`Leader::conn`]) loses the lock and its
//! writes together.
//!
//! ```text
//! let election = Election::new("relayer", KEY);
//! let mut leader = election.lead(&pool).await?;      // waits while another instance leads
//! assert!(election.is_leader());                      // what /readyz and the metrics report
//! leader.release().await?;
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

/// An advisory-lock key and whether this process currently holds it. Cheap to clone; clones
/// share the leadership flag.
#[derive(Debug, Clone)]
pub struct Election {
    name: &'static str,
    key: i64,
    leading: Arc<AtomicBool>,
}

/// The held lock. Dropping it closes the session, which releases the lock.
#[derive(Debug)]
pub struct Leader {
    conn: PgConnection,
    key: i64,
    flag: LeadingFlag,
}

/// Clears the election's flag when the [`Leader`] goes, however it goes.
#[derive(Debug)]
struct LeadingFlag(Arc<AtomicBool>);

impl Drop for LeadingFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Election {
    /// An election for `key`; `name` says whose lock it is in logs.
    pub fn new(name: &'static str, key: i64) -> Election {
        Election {
            name,
            key,
            leading: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The advisory-lock key.
    pub fn key(&self) -> i64 {
        self.key
    }

    /// True while a [`Leader`] of this election (or of a clone) is alive.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// Takes the lock if it is free, without waiting.
    pub async fn try_lead(&self, pool: &PgPool) -> Result<Option<Leader>, sqlx::Error> {
        let mut conn = dedicated(pool).await?;
        if try_lock(&mut conn, self.key).await? {
            Ok(Some(self.leader(conn)))
        } else {
            Ok(None)
        }
    }

    /// Waits in PostgreSQL (`pg_advisory_lock`) until the lock is ours.
    pub async fn lead(&self, pool: &PgPool) -> Result<Leader, sqlx::Error> {
        let mut conn = dedicated(pool).await?;
        sqlx::query!("SELECT pg_advisory_lock($1)", self.key)
            .fetch_one(&mut conn)
            .await?;
        Ok(self.leader(conn))
    }

    /// Waits until the lock is ours, polling `pg_try_advisory_lock` every `poll` and surviving
    /// database outages: a failed connection is retried after `retry(failures)`. Never fails.
    pub async fn wait_to_lead(
        &self,
        pool: &PgPool,
        poll: Duration,
        retry: impl Fn(u32) -> Duration,
    ) -> Leader {
        let mut failures = 0u32;
        loop {
            let mut conn = match dedicated(pool).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(lock = self.name, error = %e, "cannot connect to PostgreSQL for the advisory lock; retrying");
                    tokio::time::sleep(retry(failures)).await;
                    failures = failures.saturating_add(1);
                    continue;
                }
            };
            failures = 0;
            let mut announced = false;
            loop {
                match try_lock(&mut conn, self.key).await {
                    Ok(true) => return self.leader(conn),
                    Ok(false) => {
                        if !announced {
                            tracing::info!(
                                lock = self.name,
                                "another instance holds the lock: standing by"
                            );
                            announced = true;
                        }
                        tokio::time::sleep(poll).await;
                    }
                    Err(e) => {
                        tracing::warn!(lock = self.name, error = %e, "advisory lock query failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    fn leader(&self, conn: PgConnection) -> Leader {
        self.leading.store(true, Ordering::Relaxed);
        tracing::info!(lock = self.name, "holding the advisory lock");
        Leader {
            conn,
            key: self.key,
            flag: LeadingFlag(self.leading.clone()),
        }
    }
}

impl Leader {
    /// The session holding the lock: writes through it end with the lock.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Whether the session (and so the lock) is still alive.
    pub async fn still_leading(&mut self) -> bool {
        let alive = sqlx::query!("SELECT 1 AS alive")
            .fetch_one(&mut self.conn)
            .await
            .is_ok();
        if !alive {
            self.flag.0.store(false, Ordering::Relaxed);
        }
        alive
    }

    /// Releases the lock and closes the session now.
    pub async fn release(self) -> Result<(), sqlx::Error> {
        let Leader {
            mut conn,
            key,
            flag,
        } = self;
        drop(flag);
        sqlx::query!("SELECT pg_advisory_unlock($1)", key)
            .fetch_one(&mut conn)
            .await?;
        conn.close().await
    }
}

async fn dedicated(pool: &PgPool) -> Result<PgConnection, sqlx::Error> {
    pool.connect_options().connect().await
}

async fn try_lock(conn: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "locked!""#, key)
        .fetch_one(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = false)]
    async fn one_instance_leads_and_a_standby_takes_over_when_it_releases(pool: PgPool) {
        let key = 0x7465_7374_6c65_6164; // "testlead"
        let first = Election::new("first", key);
        let second = Election::new("second", key);
        let leader = first.try_lead(&pool).await.expect("db").expect("free");
        assert!(first.is_leader() && !second.is_leader());
        assert!(second.try_lead(&pool).await.expect("db").is_none());

        let waiting = {
            let (second, pool) = (second.clone(), pool.clone());
            tokio::spawn(async move {
                second
                    .wait_to_lead(&pool, Duration::from_millis(20), |_| {
                        Duration::from_millis(20)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !second.is_leader(),
            "the standby waits while the lock is held"
        );
        leader.release().await.expect("release");
        assert!(!first.is_leader());
        let mut taken = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("took over in time")
            .expect("task");
        assert!(second.is_leader() && taken.still_leading().await);
        drop(taken);
        assert!(!second.is_leader(), "dropping the leader clears the flag");
        // The dropped session freed the lock.
        let again = tokio::time::timeout(Duration::from_secs(10), first.lead(&pool))
            .await
            .expect("lock freed by the closed session")
            .expect("db");
        again.release().await.expect("release");
    }
}
