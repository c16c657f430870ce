//! Per-login throttling of failed password sign-ins (U2), whatever the client's address.
//!
//! A login is the SHA-256 of the normalised e-mail as typed, whether or not an account has it,
//! so a lock never says which addresses exist. Every attempt is counted *before* the password
//! is checked ([`attempt`]), in one statement that also refuses a locked login; the attempt
//! that reaches `LOGIN_LOCK_AFTER_FAILURES` locks the login at once for `LOGIN_LOCK_BASE_SECS`,
//! and each later one (once the lock has passed) doubles it, up to `LOGIN_LOCK_MAX_SECS`. So
//! parallel guesses get no more tries than sequential ones. A correct password clears the
//! count and the lock ([`succeeded`]); so does a password reset.
//!
//! While locked, the password is not checked at all: the answer (429 `login-locked` with
//! `Retry-After`) is the same for a right and a wrong password. Lock times are wall-clock
//! (the database's `now()`), like every security time.

use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::{
    error::{AccountsError, ApiError},
    state::AppState,
};

/// The throttle key of a login as typed (trimmed, lower-cased).
pub fn login_key(raw_email: &str) -> Vec<u8> {
    Sha256::digest(raw_email.trim().to_lowercase().as_bytes()).to_vec()
}

/// An admitted attempt: how many attempts since the last success, this one included.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub failures: i32,
    /// This attempt locked the login (it reached the threshold); a failure keeps the lock.
    pub locks: bool,
    /// How long the lock this attempt set lasts, in seconds.
    pub lock_secs: f64,
}

/// Counts an attempt for `key`, or refuses it while the login is locked.
pub async fn attempt(
    conn: &mut PgConnection,
    state: &AppState,
    key: &[u8],
) -> Result<Attempt, ApiError> {
    let c = &state.config;
    let after = i32::try_from(c.login_lock_after_failures.max(1)).unwrap_or(i32::MAX);
    let row = sqlx::query!(
        r#"INSERT INTO auth.login_throttle AS t (login_hash, failures, locked_until)
           VALUES ($1, 1, CASE WHEN 1 >= $2 THEN now() + make_interval(secs => $3::float8) END)
           ON CONFLICT (login_hash) DO UPDATE SET
               failures = t.failures + 1,
               locked_until = CASE WHEN t.failures + 1 >= $2
                   THEN now() + make_interval(secs =>
                       LEAST($4::float8, $3::float8 * power(2.0, LEAST(t.failures + 1 - $2, 30)::float8)))
                   END,
               updated_at = now()
           WHERE t.locked_until IS NULL OR t.locked_until <= now()
           RETURNING failures,
               EXTRACT(EPOCH FROM (locked_until - now()))::float8 AS "lock_secs""#,
        key,
        after,
        c.login_lock_base.as_secs_f64(),
        c.login_lock_max.as_secs_f64(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Attempt {
            failures: r.failures,
            locks: r.failures >= after,
            lock_secs: r.lock_secs.unwrap_or(0.0),
        }),
        None => {
            let left = sqlx::query_scalar!(
                r#"SELECT EXTRACT(EPOCH FROM (locked_until - now()))::float8 AS "secs"
                   FROM auth.login_throttle WHERE login_hash = $1"#,
                key,
            )
            .fetch_optional(&mut *conn)
            .await?
            .flatten()
            .unwrap_or(1.0);
            metrics::counter!("auth_login_locked_refusals_total").increment(1);
            Err(AccountsError::LoginLocked {
                retry_after_secs: left.ceil().max(1.0) as u64,
            }
            .into())
        }
    }
}

/// A correct password (or a reset): the count and the lock go.
pub async fn succeeded(conn: &mut PgConnection, key: &[u8]) -> Result<(), ApiError> {
    sqlx::query!("DELETE FROM auth.login_throttle WHERE login_hash = $1", key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
