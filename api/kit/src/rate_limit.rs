//! Rate limits per client IP and per user (U2), answered with 429 and `Retry-After`.
//!
//! The algorithm is GCRA (a leaky bucket kept as one "theoretical arrival time" per key): a
//! rate of `n` a minute admits a burst of `n`, then one request every `60/n` s. Counters live
//! in Redis when `REDIS_URL` is set (one atomic Lua script per check, Redis' own clock, so N
//! API replicas share the limits), otherwise in process. If Redis fails, the request is
//! admitted and the failure logged and counted (`rate_limiter_errors_total`): availability
//! over strictness.
//!
//! Where the limits apply: [`limit_by_ip`] (a middleware on `/v1`, with a stricter bucket for
//! `/v1/auth/*`) and [`crate::auth::extract::AuthUser`] (per user).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use posmul_core::tls::TlsSettings;

use crate::{
    client::{client_ip, limit_key},
    config::{Rate, redis_client},
    error::ApiError,
    state::AppState,
};

/// The GCRA script: returns 0 when admitted, else the microseconds to wait.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait > 0 then return wait end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
"#;

enum Backend {
    Local {
        epoch: Instant,
        tats: Mutex<HashMap<String, u64>>,
    },
    Redis {
        conn: redis::aio::ConnectionManager,
        script: redis::Script,
        prefix: String,
    },
}

/// A shared rate limiter.
pub struct RateLimiter {
    backend: Backend,
}

/// Failure to reach Redis at start-up.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot connect to Redis for rate limits ({url}): {source}; unset REDIS_URL to limit in process"
)]
pub struct RedisConnectError {
    url: String,
    #[source]
    source: redis::RedisError,
}

impl RateLimiter {
    /// An in-process limiter.
    pub fn in_process() -> Self {
        RateLimiter {
            backend: Backend::Local {
                epoch: Instant::now(),
                tats: Mutex::new(HashMap::new()),
            },
        }
    }

    /// A Redis-backed limiter (keys `<prefix><key>`, e.g. `posmul:rl:ip:10.0.0.1`); a
    /// `rediss://` URL is TLS over `tls`'s roots.
    pub async fn redis(
        url: &str,
        prefix: &str,
        tls: &TlsSettings,
    ) -> Result<Self, RedisConnectError> {
        let err = |source| RedisConnectError {
            url: posmul_core::db::redact(url),
            source,
        };
        let client = redis_client(url, tls).map_err(err)?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(err)?;
        Ok(RateLimiter {
            backend: Backend::Redis {
                conn,
                script: redis::Script::new(GCRA_LUA),
                prefix: prefix.to_owned(),
            },
        })
    }

    /// Whether this limiter uses Redis.
    pub fn is_redis(&self) -> bool {
        matches!(self.backend, Backend::Redis { .. })
    }

    /// Admits one request for `key` at `rate`, or says how long to wait.
    pub async fn check(&self, key: &str, rate: Rate) -> Result<(), ApiError> {
        let interval_us = 60_000_000 / u64::from(rate.per_minute.max(1));
        let burst = u64::from(rate.per_minute.max(1));
        self.gcra(key, interval_us, burst).await
    }

    /// Admits one event for `key` under a quota of `count` per `period` (a burst of `count`,
    /// then one every `period / count`), or says how long to wait. For slow quotas such as
    /// mails per address per hour.
    pub async fn check_quota(
        &self,
        key: &str,
        count: u32,
        period: Duration,
    ) -> Result<(), ApiError> {
        let burst = u64::from(count.max(1));
        let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX);
        self.gcra(key, (period_us / burst).max(1), burst).await
    }

    async fn gcra(&self, key: &str, interval_us: u64, burst: u64) -> Result<(), ApiError> {
        let wait_us = match &self.backend {
            Backend::Local { epoch, tats } => {
                let now = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                let mut map = tats
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if map.len() > 100_000 {
                    map.retain(|_, tat| *tat > now);
                }
                let tat = map.get(key).copied().unwrap_or(now).max(now);
                let new_tat = tat + interval_us;
                let allowed_at = new_tat.saturating_sub(burst * interval_us);
                if allowed_at > now {
                    allowed_at - now
                } else {
                    map.insert(key.to_owned(), new_tat);
                    0
                }
            }
            Backend::Redis {
                conn,
                script,
                prefix,
            } => {
                let mut conn = conn.clone();
                let result: Result<u64, _> = script
                    .key(format!("{prefix}{key}"))
                    .arg(interval_us)
                    .arg(burst)
                    .invoke_async(&mut conn)
                    .await;
                match result {
                    Ok(wait) => wait,
                    Err(e) => {
                        metrics::counter!("rate_limiter_errors_total").increment(1);
                        tracing::warn!(error = %e, "rate limiter: Redis failed; admitting");
                        0
                    }
                }
            }
        };
        if wait_us == 0 {
            Ok(())
        } else {
            metrics::counter!("rate_limited_total").increment(1);
            Err(ApiError::RateLimited {
                retry_after_secs: Duration::from_micros(wait_us).as_secs() + 1,
            })
        }
    }
}

/// Middleware: the per-IP limits. Every `/v1` request counts against `RATE_LIMIT_PER_MINUTE`;
/// `/v1/auth/*` also against `AUTH_RATE_LIMIT_PER_MINUTE`. Health, metrics and docs are exempt.
pub async fn limit_by_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/v1/") {
        let (parts, body) = req.into_parts();
        let ip = client_ip(&parts, &state.config.trusted_proxies)
            .map_or_else(|| "unknown".into(), limit_key);
        if let Err(e) = state
            .limiter
            .check(&format!("ip:{ip}"), state.config.ip_rate)
            .await
        {
            return e.into_response();
        }
        if parts.uri.path().starts_with("/v1/auth/")
            && let Err(e) = state
                .limiter
                .check(&format!("auth-ip:{ip}"), state.config.auth_ip_rate)
                .await
        {
            return e.into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn u2_the_in_process_limiter_admits_the_burst_then_refuses_with_a_wait() {
        let limiter = RateLimiter::in_process();
        let rate = Rate { per_minute: 3 };
        for _ in 0..3 {
            limiter.check("k", rate).await.unwrap();
        }
        match limiter.check("k", rate).await {
            Err(ApiError::RateLimited { retry_after_secs }) => {
                assert!((1..=21).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        limiter.check("other-key", rate).await.unwrap();
    }
}
