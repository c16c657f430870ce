//! The API's configuration, read once from environment variables at start-up.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `API_ADDR` | `127.0.0.1:8080` | listen address (`:0` picks a free port) |
//! | `METRICS_ADDR` | `127.0.0.1:9100` | the operations listener (`/metrics`, `/healthz`, `/readyz`), never the public one; loopback unless an address opens it |
//! | `DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/posmul` | PostgreSQL; in production a login user in the role `posmul_api` (README "Database roles") |
//! | `DATABASE_MAX_CONNECTIONS` | `20` | pool size |
//! | `DATABASE_MIGRATE` | `true` | apply pending migrations on start; `false` when `DATABASE_URL`'s user is not the database's owner (then the owner runs `posmul-api migrate`) |
//! | `POSMUL_ENV` | `prod` | `prod` or `dev`; `dev` allows the development JWT secret and plaintext links off the host |
//! | `JWT_SECRET` | required (a dev default when `POSMUL_ENV=dev`) | HS256 key, ≥ 32 bytes |
//! | `ACCESS_TOKEN_TTL_SECS` | `900` | access token lifetime |
//! | `REFRESH_TOKEN_TTL_SECS` | `2592000` (30 days) | refresh token lifetime |
//! | `CORS_ORIGINS` | empty (no cross-origin access) | comma-separated origins, or `*` |
//! | `REDIS_URL` | unset (in-process limiter) | Redis for rate-limit counters and the leaderboard cache: `redis://` or `rediss://` (TLS) |
//! | `REDIS_KEY_PREFIX` | `posmul:rl:` | prefix of the rate-limit keys in Redis |
//! | `SIWE_DOMAIN` | `localhost:8080` | the EIP-4361 `domain` a message must name |
//! | `SIWE_URI` | `http://localhost:8080` | the EIP-4361 `URI` a message must name |
//! | `CHAIN_ID` | `31337` | the EIP-4361 `Chain ID` a message must name |
//! | `SIWE_NONCE_TTL_SECS` | `600` | lifetime of a sign-in nonce |
//! | `SIWE_MAX_AGE_SECS` | `600` | how old `Issued At` may be |
//! | `SIGNUP_GRANT_PMP` | `1000` | PMP granted once, when an account verifies its e-mail (E2, E5) |
//! | `SIGNUP_GRANTS_PER_DAY` | `1000` | at most this many sign-up grants are paid per UTC day of the API's clock, all accounts together (E5) |
//! | `SMTP_URL` | unset | mail through SMTP: `smtps://user:pass@host:465`, `smtp://user:pass@host:587?tls=required` (STARTTLS), or `smtp://host:port` (plain: refused outside `POSMUL_ENV=dev` unless the host is this machine); TLS by rustls |
//! | `SMTP_TIMEOUT_SECS` | `10` | one SMTP delivery's time limit |
//! | `MAILBOX_DIR` | `.dev/mailbox` with `POSMUL_ENV=dev` | without `SMTP_URL`: each mail is written there as an `.eml` file instead of being sent; outside `POSMUL_ENV=dev` one of the two is required |
//! | `MAIL_FROM` | `PosMul <no-reply@posmul.dev>` | the sender of the API's mail |
//! | `WEB_URL` | `http://localhost:8080` | the web client's base URL, for the links in mail (`/verify-email?token=…`, `/reset-password?token=…`) |
//! | `EMAIL_TOKEN_TTL_SECS` | `86400` (1 day) | lifetime of an e-mail verification token |
//! | `PASSWORD_RESET_TTL_SECS` | `3600` | lifetime of a password reset token |
//! | `MAILS_PER_ADDRESS_PER_HOUR` | `5` | verification and reset mails to one address (a burst of that many, then one every `60/n` minutes) |
//! | `LOGIN_LOCK_AFTER_FAILURES` | `5` | failed password sign-ins of one login (whatever the client's address) before it is locked |
//! | `LOGIN_LOCK_BASE_SECS` | `30` | the first lock; each further failure doubles it |
//! | `LOGIN_LOCK_MAX_SECS` | `3600` | the longest lock |
//! | `PASSWORD_HASH_CONCURRENCY` | the number of CPUs | argon2id hashes running at once (each holds 19 MiB) |
//! | `PASSWORD_HASH_WAIT_MS` | `500` | how long a request waits for a hashing slot before the API answers 503 with `Retry-After` |
//! | `TOKEN_VERSION_CACHE_MS` | `1000` | how long a replica reuses an account's token version and ban state; a ban, role change or password reset ends older access tokens at once on the replica that made it, within this time on the others (U1) |
//! | `SSE_STREAMS_PER_CLIENT` | `5` | event streams (SSE) one client may hold open on a replica: the signed-in user, or the client address for public streams; beyond, 429 `too-many-streams` |
//! | `SSE_STREAMS_TOTAL` | `1000` | event streams one replica holds open in all; beyond, 429 `too-many-streams` |
//! | `BODY_LIMIT_BYTES` | `65536` | largest accepted request body |
//! | `REQUEST_TIMEOUT_MS` | `15000` | per-request timeout |
//! | `RATE_LIMIT_PER_MINUTE` | `600` | per client IP, all `/v1` routes (burst = the same) |
//! | `AUTH_RATE_LIMIT_PER_MINUTE` | `20` | per client IP, `/v1/auth/*` (credential guessing) |
//! | `USER_RATE_LIMIT_PER_MINUTE` | `300` | per signed-in user |
//! | `TRUSTED_PROXIES` | empty (the socket peer is the client) | comma-separated addresses or networks of the reverse proxies in front of the API; `X-Forwarded-For` is read only through them (see [`crate::client`]) |
//! | `CLOCK` | `system` | the clock every rule reads: `system`, or `chain` (demo: the development chain's time, only with `POSMUL_ENV=dev`) |
//! | `RPC_URL` | `http://127.0.0.1:8545` | with `CLOCK=chain`: the chain whose latest block's time is "now" |
//! | `CLOCK_MAX_AGE_MS` | `1000` | with `CLOCK=chain`: how long a reading of the chain's time is reused |
//! | `TLS_CA_FILE` | unset | extra CA certificates (PEM) trusted by PostgreSQL and `rediss://` |
//! | `PREDICTION_DISPUTE_WINDOW_SECS` | `7200` (2 hours) | P6: after a settlement (on the API's clock), how long its credits wait before joining a wave and an admin may correct it |
//! | `PREDICTION_MIN_STAKERS` | `5` | P6: distinct stakers a user-proposed game needs at its end to keep its share of the hourly pools |
//! | `PREDICTION_MAX_OPEN_PROPOSALS` | `3` | P2: user-proposed games a citizen may have open (not yet ended, settled or cancelled) at once |
//! | `BUSINESS_METRICS_INTERVAL_SECS` | `60` | how often the business and economy gauges (`posmul_active_users_24h`, `posmul_economy_*`, …; see `ops/README.md`) are read from the database; `0` turns the reading off |
//! | `PARTITION_MONTHS_AHEAD` | `3` | the monthly partitions (ledger postings, audit log, mirrored chain events) the API creates at start-up and daily: the current month and this many ahead, at most 120 |
//!
//! TLS: `DATABASE_URL` takes `sslmode=require` or `verify-full` (with `sslrootcert=` or
//! `TLS_CA_FILE`), `REDIS_URL` a `rediss://` URL. Outside `POSMUL_ENV=dev`, a plaintext link to
//! a host that is not loopback is refused at start (`posmul_core::tls`). With `TLS_CA_FILE`
//! set, `rediss://` trusts that file only (the redis client takes one root set); PostgreSQL
//! trusts it next to the public roots.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use posmul_core::{
    config::{ConfigError, Env},
    tls::{Environment, TlsSettings},
};

use secrecy::{ExposeSecret, SecretString};

use crate::client::TrustedProxies;

/// The most months ahead `PARTITION_MONTHS_AHEAD` may ask for (`partitions.ensure_months`'s
/// own limit).
pub const MAX_PARTITION_MONTHS_AHEAD: u32 = 120;

/// Development-only JWT secret, accepted only with `POSMUL_ENV=dev`.
pub const DEV_JWT_SECRET: &str = "posmul-dev-only-secret-do-not-use-in-production-0123456789";

/// Which clock the API's rules read (`CLOCK`; see [`posmul_core::clock`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockSetting {
    /// The machine's clock: the default, and the only one outside development.
    System,
    /// A development chain's time (demo mode, where the relayer runs that time fast): the
    /// latest block's timestamp at `rpc_url`, read again after `max_age`.
    Chain { rpc_url: String, max_age: Duration },
}

/// Where the API's mail goes (`SMTP_URL`, else `MAILBOX_DIR`; see [`crate::mail`]).
#[derive(Debug, Clone)]
pub enum MailSetting {
    /// An SMTP server (the URL may hold credentials, so it never prints).
    Smtp {
        url: SecretString,
        timeout: Duration,
    },
    /// A folder: every mail is written there as an `.eml` file (development and tests).
    Mailbox { dir: PathBuf },
}

impl PartialEq for MailSetting {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Smtp { url: a, timeout: t }, Self::Smtp { url: b, timeout: u }) => {
                a.expose_secret() == b.expose_secret() && t == u
            }
            (Self::Mailbox { dir: a }, Self::Mailbox { dir: b }) => a == b,
            _ => false,
        }
    }
}

impl Eq for MailSetting {}

/// Whether `url` is plain SMTP (no TLS required) to a host other than this machine.
fn plaintext_smtp_off_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return false;
    };
    if url.contains("tls=required") {
        return false;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// The rules of the predictions domain that are settings (DESIGN.md P2, P6; see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredictionSettings {
    /// P6: how long a settlement stays open to correction; its credits join waves only after.
    pub dispute_window: Duration,
    /// P6: the distinct stakers a user-proposed game needs at its end to keep its pool (M2).
    pub min_stakers: u32,
    /// P2: the user-proposed games a citizen may have open at once.
    pub max_open_proposals: u32,
}

impl Default for PredictionSettings {
    /// The documented defaults: 2 hours, 5 stakers, 3 proposals.
    fn default() -> Self {
        PredictionSettings {
            dispute_window: Duration::from_secs(2 * 3600),
            min_stakers: 5,
            max_open_proposals: 3,
        }
    }
}

/// A rate: `per_minute` requests a minute, bursting up to `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
}

/// The API's settings. Build with [`ApiConfig::from_env`], or take [`ApiConfig::for_tests`]
/// and change fields.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub addr: SocketAddr,
    /// The operations listener (`/metrics`): not on the public port.
    pub metrics_addr: SocketAddr,
    pub database_url: String,
    pub database_max_connections: u32,
    pub migrate: bool,
    /// Never printed (`Debug` shows `[REDACTED]`), wiped when dropped.
    pub jwt_secret: SecretString,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub cors_origins: Vec<String>,
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    pub siwe_domain: String,
    pub siwe_uri: String,
    pub chain_id: u64,
    pub siwe_nonce_ttl: Duration,
    pub siwe_max_age: Duration,
    pub signup_grant_pmp: i64,
    pub signup_grants_per_day: u32,
    pub mail: MailSetting,
    pub mail_from: String,
    pub web_url: String,
    pub email_token_ttl: Duration,
    pub reset_token_ttl: Duration,
    pub mails_per_address_per_hour: u32,
    pub login_lock_after_failures: u32,
    pub login_lock_base: Duration,
    pub login_lock_max: Duration,
    pub password_hash_concurrency: usize,
    pub password_hash_wait: Duration,
    /// How long an account's token version and ban state are reused (U1).
    pub token_version_cache: Duration,
    /// Event streams one client may hold open (per replica).
    pub sse_streams_per_client: usize,
    /// Event streams one replica holds open in all.
    pub sse_streams_total: usize,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    pub ip_rate: Rate,
    pub auth_ip_rate: Rate,
    pub user_rate: Rate,
    pub trusted_proxies: TrustedProxies,
    pub clock: ClockSetting,
    /// How often the business gauges are read from the database (zero: never).
    pub business_metrics_interval: Duration,
    /// Monthly partitions kept ready beyond the current month (`partitions.ensure_months`).
    pub partition_months_ahead: u32,
    /// How often due Cloud Funding projects are settled and pending refunds retried (zero:
    /// never; admins can still run it).
    pub funding_settle_interval: Duration,
    /// Trusted roots and the plaintext rule of every link (`TLS_CA_FILE`, `POSMUL_ENV`).
    pub tls: TlsSettings,
    pub predictions: PredictionSettings,
}

impl ApiConfig {
    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env::process())
    }

    /// From any variable source (tests pass a map).
    pub fn from_source<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let tls = TlsSettings::from_env(env)?;
        let dev = tls.environment() == Environment::Dev;
        let jwt_secret = match env.raw("JWT_SECRET").map(SecretString::from) {
            Some(s) => s,
            None if dev => SecretString::from(DEV_JWT_SECRET),
            None => {
                return Err(ConfigError::Missing {
                    name: "JWT_SECRET".into(),
                    hint: "an HS256 key of at least 32 bytes (or POSMUL_ENV=dev for a dev key)",
                });
            }
        };
        if !dev && jwt_secret.expose_secret() == DEV_JWT_SECRET {
            // It is in this repository for everyone to read: tokens signed with it are forgeable.
            return Err(ConfigError::Malformed {
                name: "JWT_SECRET".into(),
                value: "***".into(),
                reason: "this is the published development secret; outside POSMUL_ENV=dev set \
                         your own (e.g. `openssl rand -base64 48`)"
                    .into(),
            });
        }
        if jwt_secret.expose_secret().len() < 32 {
            return Err(ConfigError::Malformed {
                name: "JWT_SECRET".into(),
                value: "***".into(),
                reason: "use at least 32 bytes".into(),
            });
        }
        if env.raw("TRUST_FORWARDED_FOR").is_some() {
            // It trusted the client-written leftmost entry; silently ignoring it would change
            // which address the limits see without a word.
            return Err(ConfigError::Malformed {
                name: "TRUST_FORWARDED_FOR".into(),
                value: "***".into(),
                reason: "replaced by TRUSTED_PROXIES (the networks of your reverse proxies)".into(),
            });
        }
        if env.raw("ADMIN_EMAILS").is_some() {
            // It made any address an admin at every sign-in, verified or not, so a revocation
            // never stuck (U1); an operator who still sets it must learn it no longer works.
            return Err(ConfigError::Malformed {
                name: "ADMIN_EMAILS".into(),
                value: "***".into(),
                reason: "removed: create the first admin once with `posmul-api admin bootstrap \
                         --email …`; later roles change through the admin API"
                    .into(),
            });
        }
        let redis_url = env.raw("REDIS_URL");
        if let Some(url) = &redis_url {
            tls.check_redis_url(url)
                .map_err(|e| e.for_variable("REDIS_URL", posmul_core::db::redact(url)))?;
        }
        let secs = |name: &str, default: u64| env.or(name, default).map(Duration::from_secs);
        let clock = match env.or("CLOCK", "system".to_owned())?.as_str() {
            "system" => ClockSetting::System,
            // A clock anyone's chain can move never decides production rules.
            "chain" if dev => ClockSetting::Chain {
                rpc_url: env.or("RPC_URL", "http://127.0.0.1:8545".to_owned())?,
                max_age: env.millis("CLOCK_MAX_AGE_MS", 1000)?,
            },
            "chain" => {
                return Err(ConfigError::Malformed {
                    name: "CLOCK".into(),
                    value: "chain".into(),
                    reason: "the chain clock is for demos: it needs POSMUL_ENV=dev".into(),
                });
            }
            other => {
                return Err(ConfigError::Malformed {
                    name: "CLOCK".into(),
                    value: other.into(),
                    reason: "expected `system` or `chain`".into(),
                });
            }
        };
        let mail = match (env.raw("SMTP_URL"), env.raw("MAILBOX_DIR")) {
            (Some(url), _) if !dev && plaintext_smtp_off_host(&url) => {
                // Credentials and reset links would cross the network in clear text.
                return Err(ConfigError::Malformed {
                    name: "SMTP_URL".into(),
                    value: "***".into(),
                    reason: "plain smtp:// leaves this machine without TLS; use smtps:// or \
                             smtp://…?tls=required (plain SMTP only to a relay on localhost)"
                        .into(),
                });
            }
            (Some(url), _) => MailSetting::Smtp {
                url: SecretString::from(url),
                timeout: secs("SMTP_TIMEOUT_SECS", 10)?,
            },
            (None, Some(dir)) => MailSetting::Mailbox { dir: dir.into() },
            (None, None) if dev => MailSetting::Mailbox {
                dir: PathBuf::from(".dev/mailbox"),
            },
            (None, None) => {
                // Verification and reset mail are how accounts prove themselves (U2, E5).
                return Err(ConfigError::Missing {
                    name: "SMTP_URL".into(),
                    hint: "an SMTP server for verification and reset mail (or MAILBOX_DIR to \
                           write them to a folder)",
                });
            }
        };
        // The database function refuses more; refusing at start says which setting is wrong.
        let partition_months_ahead: u32 = env.or("PARTITION_MONTHS_AHEAD", 3)?;
        if partition_months_ahead > MAX_PARTITION_MONTHS_AHEAD {
            return Err(ConfigError::Malformed {
                name: "PARTITION_MONTHS_AHEAD".into(),
                value: partition_months_ahead.to_string(),
                reason: format!("at most {MAX_PARTITION_MONTHS_AHEAD} months"),
            });
        }
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Ok(ApiConfig {
            addr: env.or("API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            metrics_addr: env.or("METRICS_ADDR", SocketAddr::from(([127, 0, 0, 1], 9100)))?,
            database_url: posmul_core::config::database_url(env),
            database_max_connections: env.or("DATABASE_MAX_CONNECTIONS", 20)?,
            migrate: posmul_core::config::database_migrate(env)?,
            jwt_secret,
            access_ttl: secs("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_ttl: secs("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            cors_origins: env.list("CORS_ORIGINS", &[]),
            redis_url,
            redis_key_prefix: env.or("REDIS_KEY_PREFIX", "posmul:rl:".to_owned())?,
            siwe_domain: env.or("SIWE_DOMAIN", "localhost:8080".to_owned())?,
            siwe_uri: env.or("SIWE_URI", "http://localhost:8080".to_owned())?,
            chain_id: env.or("CHAIN_ID", 31337)?,
            siwe_nonce_ttl: secs("SIWE_NONCE_TTL_SECS", 600)?,
            siwe_max_age: secs("SIWE_MAX_AGE_SECS", 600)?,
            signup_grant_pmp: env.or("SIGNUP_GRANT_PMP", 1000)?,
            signup_grants_per_day: env.or("SIGNUP_GRANTS_PER_DAY", 1000)?,
            mail,
            mail_from: env.or("MAIL_FROM", "PosMul <no-reply@posmul.dev>".to_owned())?,
            web_url: env.or("WEB_URL", "http://localhost:8080".to_owned())?,
            email_token_ttl: secs("EMAIL_TOKEN_TTL_SECS", 24 * 3600)?,
            reset_token_ttl: secs("PASSWORD_RESET_TTL_SECS", 3600)?,
            mails_per_address_per_hour: env.or("MAILS_PER_ADDRESS_PER_HOUR", 5)?,
            login_lock_after_failures: env.or("LOGIN_LOCK_AFTER_FAILURES", 5)?,
            login_lock_base: secs("LOGIN_LOCK_BASE_SECS", 30)?,
            login_lock_max: secs("LOGIN_LOCK_MAX_SECS", 3600)?,
            password_hash_concurrency: env.or("PASSWORD_HASH_CONCURRENCY", cpus)?.max(1),
            password_hash_wait: env.millis("PASSWORD_HASH_WAIT_MS", 500)?,
            token_version_cache: env.millis("TOKEN_VERSION_CACHE_MS", 1000)?,
            sse_streams_per_client: env.or("SSE_STREAMS_PER_CLIENT", 5)?,
            sse_streams_total: env.or("SSE_STREAMS_TOTAL", 1000)?,
            body_limit_bytes: env.or("BODY_LIMIT_BYTES", 64 * 1024)?,
            request_timeout: env.millis("REQUEST_TIMEOUT_MS", 15_000)?,
            ip_rate: Rate {
                per_minute: env.or("RATE_LIMIT_PER_MINUTE", 600)?,
            },
            auth_ip_rate: Rate {
                per_minute: env.or("AUTH_RATE_LIMIT_PER_MINUTE", 20)?,
            },
            user_rate: Rate {
                per_minute: env.or("USER_RATE_LIMIT_PER_MINUTE", 300)?,
            },
            trusted_proxies: TrustedProxies::parse(&env.list("TRUSTED_PROXIES", &[])).map_err(
                |e| ConfigError::Malformed {
                    name: "TRUSTED_PROXIES".into(),
                    value: e.0.clone(),
                    reason: e.to_string(),
                },
            )?,
            clock,
            business_metrics_interval: secs("BUSINESS_METRICS_INTERVAL_SECS", 60)?,
            partition_months_ahead,
            funding_settle_interval: secs("FUNDING_SETTLE_INTERVAL_SECS", 60)?,
            tls,
            predictions: PredictionSettings {
                dispute_window: secs("PREDICTION_DISPUTE_WINDOW_SECS", 2 * 3600)?,
                min_stakers: env.or("PREDICTION_MIN_STAKERS", 5)?,
                max_open_proposals: env.or("PREDICTION_MAX_OPEN_PROPOSALS", 3)?,
            },
        })
    }

    /// Settings for tests: port 0, the dev secret, generous rate limits, in-process limiter, a
    /// fresh mailbox folder under the temporary directory, two hashing slots.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        ApiConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            database_max_connections: 10,
            migrate: false,
            jwt_secret: SecretString::from(DEV_JWT_SECRET),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            cors_origins: vec![],
            redis_url: None,
            redis_key_prefix: "posmul:rl:".into(),
            siwe_domain: "localhost:8080".into(),
            siwe_uri: "http://localhost:8080".into(),
            chain_id: 31337,
            siwe_nonce_ttl: Duration::from_secs(600),
            siwe_max_age: Duration::from_secs(600),
            signup_grant_pmp: 1000,
            signup_grants_per_day: 1000,
            mail: MailSetting::Mailbox {
                dir: std::env::temp_dir().join(format!("posmul-mailbox-{}", uuid::Uuid::new_v4())),
            },
            mail_from: "PosMul <no-reply@posmul.dev>".into(),
            web_url: "http://localhost:8080".into(),
            email_token_ttl: Duration::from_secs(24 * 3600),
            reset_token_ttl: Duration::from_secs(3600),
            mails_per_address_per_hour: 1_000_000,
            login_lock_after_failures: 5,
            login_lock_base: Duration::from_secs(30),
            login_lock_max: Duration::from_secs(3600),
            password_hash_concurrency: 2,
            password_hash_wait: Duration::from_millis(500),
            token_version_cache: Duration::from_secs(1),
            sse_streams_per_client: 5,
            sse_streams_total: 1000,
            body_limit_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            ip_rate: Rate {
                per_minute: 1_000_000,
            },
            auth_ip_rate: Rate {
                per_minute: 1_000_000,
            },
            user_rate: Rate {
                per_minute: 1_000_000,
            },
            trusted_proxies: TrustedProxies::none(),
            clock: ClockSetting::System,
            // Tests read the gauges when they choose (`posmul_api::business_metrics::refresh`).
            business_metrics_interval: Duration::ZERO,
            partition_months_ahead: 3,
            // Tests settle when they choose (`POST /v1/admin/funding/settle`).
            funding_settle_interval: Duration::ZERO,
            tls: TlsSettings::default(),
            predictions: PredictionSettings::default(),
        }
    }
}

/// A Redis client for `url` (`redis://` or `rediss://`); `rediss://` trusts `TLS_CA_FILE` when
/// it is set, the public roots otherwise.
pub fn redis_client(url: &str, tls: &TlsSettings) -> redis::RedisResult<redis::Client> {
    match tls.ca_pem() {
        Some(pem) if url.starts_with("rediss://") => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        _ => redis::Client::open(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<ApiConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ApiConfig::from_source(&Env::from_fn(move |k| map.get(k).cloned()))
    }

    #[test]
    fn outside_dev_a_jwt_secret_is_required() {
        assert!(matches!(cfg(&[]), Err(ConfigError::Missing { .. })));
        assert!(cfg(&[("POSMUL_ENV", "dev")]).is_ok());
    }

    #[test]
    fn the_jwt_secret_never_prints() {
        let secret = "a-thirty-two-byte-or-longer-secret-for-the-test";
        let c =
            cfg(&[("JWT_SECRET", secret), ("MAILBOX_DIR", "/tmp/posmul-mail")]).expect("config");
        assert!(!format!("{c:?}").contains(secret));
        assert_eq!(c.jwt_secret.expose_secret(), secret);
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        assert!(cfg(&[("JWT_SECRET", "short")]).is_err());
        assert!(cfg(&[("POSMUL_ENV", "dev"), ("JWT_SECRET", "short")]).is_err());
    }

    #[test]
    fn outside_dev_the_published_development_secret_is_refused() {
        let err = cfg(&[("JWT_SECRET", DEV_JWT_SECRET)]).unwrap_err();
        assert!(err.to_string().contains("development secret"), "{err}");
        assert!(cfg(&[("POSMUL_ENV", "dev"), ("JWT_SECRET", DEV_JWT_SECRET)]).is_ok());
        assert!(
            cfg(&[
                ("JWT_SECRET", &"k".repeat(32)),
                ("MAILBOX_DIR", "/var/mail/posmul")
            ])
            .is_ok()
        );
    }

    #[test]
    fn u2_trusted_proxies_parse_and_the_old_setting_is_refused() {
        let c = cfg(&[
            ("POSMUL_ENV", "dev"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ])
        .unwrap();
        assert!(c.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(cfg(&[("POSMUL_ENV", "dev"), ("TRUSTED_PROXIES", "proxy.internal")]).is_err());
        let err = cfg(&[("POSMUL_ENV", "dev"), ("TRUST_FORWARDED_FOR", "true")]).unwrap_err();
        assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
        assert!(
            cfg(&[("POSMUL_ENV", "dev")])
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
    }

    #[test]
    fn u1_admin_emails_is_refused_so_no_address_becomes_admin_by_signing_in() {
        let err = cfg(&[("POSMUL_ENV", "dev"), ("ADMIN_EMAILS", "root@example.org")]).unwrap_err();
        assert!(err.to_string().contains("admin bootstrap"), "{err}");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = cfg(&[("POSMUL_ENV", "dev")]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.metrics_addr.to_string(), "127.0.0.1:9100");
        assert_eq!(c.access_ttl, Duration::from_secs(900));
        assert_eq!(c.signup_grant_pmp, 1000);
        assert_eq!(c.signup_grants_per_day, 1000);
        assert_eq!(
            c.mail,
            MailSetting::Mailbox {
                dir: ".dev/mailbox".into()
            }
        );
        assert_eq!(c.login_lock_after_failures, 5);
        assert!(c.password_hash_concurrency >= 1);
        assert!(c.redis_url.is_none());
        assert_eq!(c.clock, ClockSetting::System);
        assert_eq!(c.predictions, PredictionSettings::default());
        assert_eq!(c.predictions.dispute_window, Duration::from_secs(7200));
        assert_eq!(
            (c.predictions.min_stakers, c.predictions.max_open_proposals),
            (5, 3)
        );
        let c = cfg(&[
            ("POSMUL_ENV", "dev"),
            ("PREDICTION_DISPUTE_WINDOW_SECS", "60"),
            ("PREDICTION_MIN_STAKERS", "2"),
            ("PREDICTION_MAX_OPEN_PROPOSALS", "10"),
        ])
        .unwrap();
        assert_eq!(
            c.predictions,
            PredictionSettings {
                dispute_window: Duration::from_secs(60),
                min_stakers: 2,
                max_open_proposals: 10,
            }
        );
    }

    #[test]
    fn partition_months_ahead_defaults_to_three_and_is_bounded() {
        assert_eq!(
            cfg(&[("POSMUL_ENV", "dev")])
                .unwrap()
                .partition_months_ahead,
            3
        );
        let c = cfg(&[("POSMUL_ENV", "dev"), ("PARTITION_MONTHS_AHEAD", "12")]).unwrap();
        assert_eq!(c.partition_months_ahead, 12);
        let err = cfg(&[("POSMUL_ENV", "dev"), ("PARTITION_MONTHS_AHEAD", "121")]).unwrap_err();
        assert!(err.to_string().contains("PARTITION_MONTHS_AHEAD"), "{err}");
        assert!(cfg(&[("POSMUL_ENV", "dev"), ("PARTITION_MONTHS_AHEAD", "-1")]).is_err());
    }

    #[test]
    fn u2_outside_dev_mail_needs_smtp_or_a_mailbox() {
        let secret = "k".repeat(32);
        assert!(matches!(
            cfg(&[("JWT_SECRET", &secret)]),
            Err(ConfigError::Missing { .. })
        ));
        let c = cfg(&[
            ("JWT_SECRET", &secret),
            ("SMTP_URL", "smtps://u:p@mail.example.org"),
        ])
        .unwrap();
        assert!(matches!(c.mail, MailSetting::Smtp { .. }));
        assert!(
            !format!("{c:?}").contains("u:p@"),
            "the SMTP URL never prints"
        );
    }

    #[test]
    fn the_chain_clock_is_for_development_only() {
        assert!(matches!(
            cfg(&[("JWT_SECRET", DEV_JWT_SECRET), ("CLOCK", "chain")]),
            Err(ConfigError::Malformed { .. })
        ));
        let c = cfg(&[
            ("POSMUL_ENV", "dev"),
            ("CLOCK", "chain"),
            ("RPC_URL", "http://127.0.0.1:9545"),
        ])
        .unwrap();
        assert_eq!(
            c.clock,
            ClockSetting::Chain {
                rpc_url: "http://127.0.0.1:9545".into(),
                max_age: Duration::from_secs(1)
            }
        );
        assert!(cfg(&[("POSMUL_ENV", "dev"), ("CLOCK", "sundial")]).is_err());
    }

    #[test]
    fn in_prod_a_plaintext_redis_off_the_host_is_refused() {
        // Not the development secret, which prod refuses before it looks at REDIS_URL.
        const PROD_SECRET: &str = "a-production-secret-of-more-than-32-bytes";
        let err = cfg(&[
            ("JWT_SECRET", PROD_SECRET),
            ("REDIS_URL", "redis://:hunter2@cache.internal:6379"),
        ])
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("REDIS_URL") && msg.contains("rediss://"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        for ok in ["rediss://cache.internal:6379", "redis://127.0.0.1:6379"] {
            assert!(
                cfg(&[
                    ("JWT_SECRET", PROD_SECRET),
                    ("REDIS_URL", ok),
                    ("MAILBOX_DIR", "/tmp/posmul-mail")
                ])
                .is_ok(),
                "{ok}"
            );
        }
        assert!(
            cfg(&[
                ("POSMUL_ENV", "dev"),
                ("REDIS_URL", "redis://cache.internal:6379")
            ])
            .is_ok()
        );
    }

    #[test]
    fn posmul_env_is_prod_or_dev() {
        assert!(cfg(&[("POSMUL_ENV", "staging")]).is_err());
    }
}
