//! The indexer's settings, read from environment variables with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `CHAIN_ID` | `31337` | chain to index; selects `deployments/<CHAIN_ID>.json` and keys every row |
//! | `RPC_URLS` | `http://127.0.0.1:8545` | comma-separated JSON-RPC URLs (`http(s)://` or `ws(s)://`), tried in order, failing over |
//! | `DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/posmul` | PostgreSQL; in production a login user in the role `posmul_indexer` (README "Database roles") |
//! | `DATABASE_MIGRATE` | `true` | apply pending migrations on start; `false` when `DATABASE_URL`'s user is not the database's owner |
//! | `DEPLOYMENTS_DIR` | `deployments` | folder of `<chainId>.json` deployment files |
//! | `POLL_INTERVAL_MS` | `1000` | head polling interval (a `ws://` URL also wakes on new heads) |
//! | `FINALITY` | `auto` | `tag` (the node's `finalized` block), `depth` (`CONFIRMATIONS`), or `auto` (tag when the node answers it, else depth) |
//! | `CONFIRMATIONS` | `64` | confirmation depth when finality is by depth |
//! | `INDEXER_HTTP_ADDR` | `127.0.0.1:9101` | address of `/healthz`, `/readyz`, `/metrics` (loopback: set an address such as `0.0.0.0:9101` to let a Prometheus on another host scrape it) |
//! | `READY_MAX_LAG` | `10` | `/readyz` answers 503 when more blocks than this behind the head |
//! | `BLOCK_RANGE_START` | `2000` | first `eth_getLogs` range, in blocks |
//! | `BLOCK_RANGE_MAX` | `10000` | largest range the adaptive sizing grows to |
//! | `LOGS_PER_REQUEST` | `10000` | target logs per request; a range returning twice as many is halved |
//! | `FETCH_CONCURRENCY` | `4` | `eth_getLogs` requests in flight during backfill |
//! | `RPC_TIMEOUT_MS` | `30000` | timeout of one RPC request |
//! | `RETRY_BASE_MS` / `RETRY_MAX_MS` | `200` / `10000` | exponential backoff (with jitter) between retries |
//! | `STANDBY_POLL_MS` | `1000` | how often a standby instance tries to take the advisory lock |
//! | `TLS_CA_FILE` | unset | extra CA certificates (PEM) trusted by `https://`/`wss://` RPC URLs and PostgreSQL |
//! | `POSMUL_ENV` | `prod` | `prod` refuses plaintext (`http://`, `ws://`, `sslmode` below `require`) to hosts that are not loopback; `dev` allows it |
//!
//! TLS: `RPC_URLS` takes `https://` and `wss://` URLs, `DATABASE_URL` `sslmode=require` or
//! `verify-full` (with `sslrootcert=` or `TLS_CA_FILE`); see `posmul_core::tls`.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use posmul_core::{
    config::{ConfigError, Env},
    tls::TlsSettings,
};

/// How the indexer decides that a block is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// The node's `finalized` block tag; an error when the node does not answer it.
    Tag,
    /// `head - confirmations`.
    Depth,
    /// The tag when the node answers it, the depth otherwise.
    Auto,
}

impl FromStr for Finality {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tag" => Ok(Finality::Tag),
            "depth" => Ok(Finality::Depth),
            "auto" => Ok(Finality::Auto),
            _ => Err("expected tag, depth or auto".to_owned()),
        }
    }
}

/// Everything the indexer needs besides the deployment and the database pool. `Debug` shows
/// the RPC URLs by their origin and the database URL without its password.
#[derive(Clone)]
pub struct IndexerConfig {
    pub chain_id: u64,
    pub rpc_urls: Vec<String>,
    pub database_url: String,
    /// Apply pending migrations on start (`DATABASE_MIGRATE`; the owner only).
    pub database_migrate: bool,
    pub deployments_dir: PathBuf,
    pub poll_interval: Duration,
    pub finality: Finality,
    pub confirmations: u64,
    pub http_addr: SocketAddr,
    pub ready_max_lag: u64,
    pub block_range_start: u64,
    pub block_range_max: u64,
    pub logs_per_request: usize,
    pub fetch_concurrency: usize,
    pub rpc_timeout: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub standby_poll: Duration,
    /// Trusted roots and the plaintext rule of every link (`TLS_CA_FILE`, `POSMUL_ENV`).
    pub tls: TlsSettings,
}

impl std::fmt::Debug for IndexerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origins: Vec<String> = self
            .rpc_urls
            .iter()
            .map(|u| posmul_core::rpc::origin(u))
            .collect();
        f.debug_struct("IndexerConfig")
            .field("chain_id", &self.chain_id)
            .field("rpc_urls", &origins)
            .field("database_url", &posmul_core::db::redact(&self.database_url))
            .field("deployments_dir", &self.deployments_dir)
            .field("poll_interval", &self.poll_interval)
            .field("finality", &self.finality)
            .field("http_addr", &self.http_addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl IndexerConfig {
    /// Defaults for a local chain: the values in the table above.
    pub fn local(chain_id: u64, rpc_urls: Vec<String>) -> IndexerConfig {
        IndexerConfig {
            chain_id,
            rpc_urls,
            database_url: posmul_core::config::DEFAULT_DATABASE_URL.to_owned(),
            database_migrate: true,
            deployments_dir: PathBuf::from("deployments"),
            poll_interval: Duration::from_millis(1000),
            finality: Finality::Auto,
            confirmations: 64,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 9101)),
            ready_max_lag: 10,
            block_range_start: 2000,
            block_range_max: 10_000,
            logs_per_request: 10_000,
            fetch_concurrency: 4,
            rpc_timeout: Duration::from_millis(30_000),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_millis(10_000),
            standby_poll: Duration::from_millis(1000),
            tls: TlsSettings::default(),
        }
    }

    /// Reads the variables of the table above; a malformed value is an error naming it.
    pub fn from_env<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
    ) -> Result<IndexerConfig, ConfigError> {
        let chain_id = env.or("CHAIN_ID", 31337u64)?;
        let d = IndexerConfig::local(chain_id, env.list("RPC_URLS", &["http://127.0.0.1:8545"]));
        let c = IndexerConfig {
            database_url: posmul_core::config::database_url(env),
            database_migrate: posmul_core::config::database_migrate(env)?,
            deployments_dir: env.or("DEPLOYMENTS_DIR", d.deployments_dir.clone())?,
            poll_interval: env.millis("POLL_INTERVAL_MS", 1000)?,
            finality: env.or("FINALITY", d.finality)?,
            confirmations: env.or("CONFIRMATIONS", d.confirmations)?,
            http_addr: env.or("INDEXER_HTTP_ADDR", d.http_addr)?,
            ready_max_lag: env.or("READY_MAX_LAG", d.ready_max_lag)?,
            block_range_start: env.or("BLOCK_RANGE_START", d.block_range_start)?,
            block_range_max: env.or("BLOCK_RANGE_MAX", d.block_range_max)?,
            logs_per_request: env.or("LOGS_PER_REQUEST", d.logs_per_request)?,
            fetch_concurrency: env.or("FETCH_CONCURRENCY", d.fetch_concurrency)?,
            rpc_timeout: env.millis("RPC_TIMEOUT_MS", 30_000)?,
            retry_base: env.millis("RETRY_BASE_MS", 200)?,
            retry_max: env.millis("RETRY_MAX_MS", 10_000)?,
            standby_poll: env.millis("STANDBY_POLL_MS", 1000)?,
            tls: TlsSettings::from_env(env)?,
            ..d
        };
        if c.rpc_urls.is_empty() {
            return Err(ConfigError::Missing {
                name: "RPC_URLS".to_owned(),
                hint: "at least one JSON-RPC URL",
            });
        }
        for url in &c.rpc_urls {
            c.tls
                .check_rpc_url(url)
                .map_err(|e| e.for_variable("RPC_URLS", posmul_core::rpc::origin(url)))?;
        }
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(ConfigError::Malformed {
                    name: name.to_owned(),
                    value: "0".to_owned(),
                    reason: "must be at least 1".to_owned(),
                })
            } else {
                Ok(())
            }
        };
        positive("BLOCK_RANGE_START", c.block_range_start)?;
        positive("BLOCK_RANGE_MAX", c.block_range_max)?;
        positive("LOGS_PER_REQUEST", c.logs_per_request as u64)?;
        positive("FETCH_CONCURRENCY", c.fetch_concurrency as u64)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::from_fn(move |k| map.get(k).cloned())
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let c = IndexerConfig::from_env(&env(&[])).expect("defaults are valid");
        assert_eq!(c.chain_id, 31337);
        assert_eq!(c.rpc_urls, vec!["http://127.0.0.1:8545"]);
        assert_eq!(c.block_range_start, 2000);
        assert_eq!(c.finality, Finality::Auto);
        assert_eq!(c.http_addr.port(), 9101, "the relayer's default is 9102");
        assert!(
            c.http_addr.ip().is_loopback(),
            "metrics stay on the machine by default"
        );
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let err = IndexerConfig::from_env(&env(&[("FINALITY", "soon")])).expect_err("malformed");
        assert!(err.to_string().contains("FINALITY"), "{err}");
        let err = IndexerConfig::from_env(&env(&[("BLOCK_RANGE_START", "0")])).expect_err("zero");
        assert!(err.to_string().contains("BLOCK_RANGE_START"), "{err}");
    }

    #[test]
    fn the_config_prints_rpc_urls_by_origin_only() {
        let mut c = IndexerConfig::local(
            137,
            vec!["https://polygon.example.com/v2/SECRETKEY?k=SECRETQ".into()],
        );
        c.database_url = "postgres://indexer:SECRETPW@db.example.com/posmul".into();
        let printed = format!("{c:?}");
        assert!(printed.contains("https://polygon.example.com"), "{printed}");
        for secret in ["SECRETKEY", "SECRETQ", "SECRETPW"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn in_prod_a_plaintext_rpc_url_off_the_host_is_refused_without_its_path() {
        let err = IndexerConfig::from_env(&env(&[(
            "RPC_URLS",
            "https://a.example.com,http://b.example.com/v2/SECRETKEY",
        )]))
        .expect_err("plaintext off the host");
        let msg = err.to_string();
        assert!(
            msg.contains("RPC_URLS") && msg.contains("b.example.com"),
            "{msg}"
        );
        assert!(!msg.contains("SECRETKEY"), "{msg}");
        let dev = IndexerConfig::from_env(&env(&[
            ("RPC_URLS", "http://b.example.com"),
            ("POSMUL_ENV", "dev"),
        ]));
        assert!(dev.is_ok());
    }
}
