//! An account's standing (U1): its token version and whether it is banned.
//!
//! Every access token carries the account's `token_version` as of its issue (the `ver` claim).
//! A ban, a role change and a password reset bump the version ([`bump`]), so
//! [`crate::auth::extract::AuthUser`] refuses the account's older tokens on their next request
//! instead of when they expire. The standing is read from `auth.users` and kept in a short
//! in-process cache (`TOKEN_VERSION_CACHE_MS`, 1 s by default) so a request costs no query in
//! the common case; a bump made by this process drops its entry at once, and another replica
//! (or the bootstrap command) is seen when its entry expires, or at once by a token newer than
//! the entry (versions only grow, so such a token proves the entry stale).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

/// What a request needs to know about the account behind its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The current token version: tokens naming another one are refused.
    pub token_version: i64,
    /// Banned accounts are refused whatever token they hold.
    pub banned: bool,
}

/// Entries kept before expired ones are swept (and, if still over, all are dropped).
const MAX_ENTRIES: usize = 100_000;

/// The in-process cache of standings.
#[derive(Debug)]
pub struct StandingCache {
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, (Instant, Standing)>>,
}

impl StandingCache {
    /// A cache keeping each standing for `ttl` (zero: read the database on every request).
    pub fn new(ttl: Duration) -> Self {
        StandingCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The standing of `user_id` (`None`: no such account), from the cache or the database.
    pub async fn get(
        &self,
        db: impl sqlx::PgExecutor<'_>,
        user_id: Uuid,
    ) -> Result<Option<Standing>, sqlx::Error> {
        if let Some(hit) = self.cached(user_id) {
            return Ok(Some(hit));
        }
        let standing = load(db, user_id).await?;
        if let Some(s) = standing
            && !self.ttl.is_zero()
            && let Ok(mut entries) = self.entries.lock()
        {
            if entries.len() >= MAX_ENTRIES {
                let now = Instant::now();
                entries.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(user_id, (Instant::now(), s));
        }
        Ok(standing)
    }

    /// Drops the cached standing of `user_id`: call it after the transaction that bumped the
    /// version has committed (before, a concurrent request could cache the old one again).
    pub fn forget(&self, user_id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&user_id);
        }
    }

    fn cached(&self, user_id: Uuid) -> Option<Standing> {
        let entries = self.entries.lock().ok()?;
        let (at, standing) = entries.get(&user_id)?;
        (at.elapsed() < self.ttl).then_some(*standing)
    }
}

/// The standing of `user_id` read from the database (`None`: no such account).
pub async fn load(
    db: impl sqlx::PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Option<Standing>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT token_version, banned_at IS NOT NULL AS "banned!" FROM auth.users WHERE id = $1"#,
        user_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Standing {
        token_version: r.token_version,
        banned: r.banned,
    }))
}

/// Bumps the token version of `user_id` in the caller's transaction, so every access token
/// issued before ends on its next request; returns the new version. After the commit, call
/// [`StandingCache::forget`].
pub async fn bump(db: impl sqlx::PgExecutor<'_>, user_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE auth.users SET token_version = token_version + 1 WHERE id = $1
         RETURNING token_version",
        user_id,
    )
    .fetch_one(db)
    .await
}
