//! The relayer's configuration, from environment variables.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/posmul` | the database; in production a login user in the role `posmul_relayer` (README "Database roles") |
//! | `DATABASE_MIGRATE` | `true` | apply pending migrations on start; `false` when `DATABASE_URL`'s user is not the database's owner |
//! | `RPC_URL` | `http://127.0.0.1:8545` | the chain's JSON-RPC endpoint |
//! | `CHAIN_ID` | asked from the node | which `deployments/<chainId>.json` to read |
//! | `DEPLOYMENTS_DIR` | `deployments` | where the deploy script writes |
//! | `PRIVATE_KEY` | — | the relayer's key (hex); or: |
//! | `KEYSTORE_PATH` + `KEYSTORE_PASSWORD_FILE` | — | an encrypted JSON keystore and its password file |
//! | `WAVE_EXPORT_DIR` | `waves` | where each wave's `@openzeppelin/merkle-tree` dump is written |
//! | `POLL_INTERVAL_MS` | `5000` | how often the loop looks at the chain |
//! | `REPLACE_AFTER_MS` | `60000` | how long a transaction may stay unmined before it is replaced |
//! | `GAS_MARGIN_PERCENT` | `20` | added to the gas estimate |
//! | `PRIORITY_FEE_FLOOR_GWEI` | `25` on 137 and 80002, else `0` | minimum priority fee |
//! | `MAX_FEE_PER_GAS_GWEI` | `1000` | ceiling on a transaction's max fee per gas, replacements included; while the chain's base fee leaves no room under it, nothing is sent and the wave waits |
//! | `MAX_PRIORITY_FEE_PER_GAS_GWEI` | `100` | ceiling on the priority fee (at least the floor) |
//! | `GAS_BALANCE_ALERT_WEI` | `1000000000000000000` (1 POL/ETH) | below this gas-wallet balance `posmul_relayer_gas_balance_low` is 1 and a warning is logged |
//! | `FINALITY_CONFIRMATIONS` | `64` | confirmations when the node has no `finalized` tag |
//! | `CLAIM_BATCH_MAX` | `100` | claims per `claimMany` |
//! | `METRICS_ADDR` | `127.0.0.1:9102` (loopback; set an address to open it) | `GET /metrics` (Prometheus), `/healthz`, `/readyz` (the indexer's default is 9101) |
//! | `DEMO_DAY_SECONDS` | unset | demo mode: the local chain's clock jumps a day this often |
//! | `GUARDIAN_PRIVATE_KEY` or `GUARDIAN_KEYSTORE_PATH` + `GUARDIAN_KEYSTORE_PASSWORD_FILE` | unset | `watch` only (M6): the guardian's key; with it a mismatching pending root is revoked, without it only alerted |
//! | `WATCH_METRICS_ADDR` | `127.0.0.1:9103` | `watch` only: its `/metrics`, `/healthz`, `/readyz` |
//! | `TLS_CA_FILE` | unset | extra CA certificates (PEM) trusted by an `https://`/`wss://` `RPC_URL` and PostgreSQL |
//! | `POSMUL_ENV` | `prod` | `prod` refuses plaintext (`http://`, `ws://`, `sslmode` below `require`) to hosts that are not loopback; `dev` allows it |
//!
//! TLS: `RPC_URL` takes `https://` and `wss://`, `DATABASE_URL` `sslmode=require` or
//! `verify-full` (with `sslrootcert=` or `TLS_CA_FILE`); see `posmul_core::tls`.
//!
//! The key is read once and kept inside the signer; it is never logged or printed. On its way
//! there the key's text and the keystore's password are `secrecy` strings (wiped when dropped,
//! never printed), and a password file that its group or others may read (`mode & 0o077`) is
//! refused: `chmod 600` it.
//!
//! The fee defaults suit Polygon PoS (a base fee of tens of gwei, hundreds at a spike): the
//! ceiling stops a replacement loop during a fee spike from draining the gas wallet. On a
//! chain with dearer gas, or to spend less, set them lower.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use posmul_core::{
    config::{ConfigError, Env},
    tls::TlsSettings,
};
use secrecy::{ExposeSecret, SecretString};

/// One gwei in wei.
const GWEI: u128 = 1_000_000_000;

/// Timing and fee settings of the sender and the loop (tests shorten them).
#[derive(Debug, Clone)]
pub struct Settings {
    pub poll_interval: Duration,
    pub replace_after: Duration,
    pub gas_margin_percent: u64,
    /// `None`: the per-chain default (25 gwei on 137 and 80002, else 0).
    pub priority_fee_floor_wei: Option<u128>,
    pub finality_confirmations: u64,
    pub claim_batch_max: usize,
    pub export_dir: PathBuf,
    /// The most a transaction may offer per gas (`maxFeePerGas`), replacements included.
    pub max_fee_per_gas_wei: u128,
    /// The most a transaction may tip per gas (`maxPriorityFeePerGas`).
    pub max_priority_fee_per_gas_wei: u128,
    /// Below this gas-wallet balance the relayer warns (`posmul_relayer_gas_balance_low`).
    pub gas_balance_alert_wei: u128,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll_interval: Duration::from_secs(5),
            replace_after: Duration::from_secs(60),
            gas_margin_percent: 20,
            priority_fee_floor_wei: None,
            finality_confirmations: 64,
            claim_batch_max: 100,
            export_dir: PathBuf::from("waves"),
            max_fee_per_gas_wei: 1000 * GWEI,
            max_priority_fee_per_gas_wei: 100 * GWEI,
            gas_balance_alert_wei: 1_000_000_000_000_000_000,
        }
    }
}

/// The priority-fee floor for a chain: Polygon nodes refuse less than 25 gwei.
pub fn default_priority_floor(chain_id: u64) -> u128 {
    match chain_id {
        137 | 80002 => 25_000_000_000,
        _ => 0,
    }
}

/// Everything the binary reads.
pub struct RelayerConfig {
    pub database_url: String,
    /// Apply pending migrations on start (`DATABASE_MIGRATE`; the owner only).
    pub database_migrate: bool,
    pub rpc_url: String,
    pub chain_id: Option<u64>,
    pub deployments_dir: PathBuf,
    pub signer: PrivateKeySigner,
    pub settings: Settings,
    pub metrics_addr: SocketAddr,
    pub demo_day: Option<Duration>,
    /// Trusted roots and the plaintext rule of every link (`TLS_CA_FILE`, `POSMUL_ENV`).
    pub tls: TlsSettings,
}

impl std::fmt::Debug for RelayerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayerConfig")
            .field("database_url", &posmul_core::db::redact(&self.database_url))
            .field("rpc_url", &posmul_core::rpc::origin(&self.rpc_url))
            .field("chain_id", &self.chain_id)
            .field("signer", &self.signer.address())
            .field("settings", &self.settings)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl RelayerConfig {
    /// Reads the configuration; the signer must be configured.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let settings = Settings {
            poll_interval: env.millis("POLL_INTERVAL_MS", 5000)?,
            replace_after: env.millis("REPLACE_AFTER_MS", 60_000)?,
            gas_margin_percent: env.or("GAS_MARGIN_PERCENT", 20)?,
            priority_fee_floor_wei: env
                .optional::<u128>("PRIORITY_FEE_FLOOR_GWEI")?
                .map(|g| g.saturating_mul(GWEI)),
            finality_confirmations: env.or("FINALITY_CONFIRMATIONS", 64)?,
            claim_batch_max: env.or("CLAIM_BATCH_MAX", 100)?,
            export_dir: env.or("WAVE_EXPORT_DIR", PathBuf::from("waves"))?,
            max_fee_per_gas_wei: env
                .or::<u128>("MAX_FEE_PER_GAS_GWEI", 1000)?
                .saturating_mul(GWEI),
            max_priority_fee_per_gas_wei: env
                .or::<u128>("MAX_PRIORITY_FEE_PER_GAS_GWEI", 100)?
                .saturating_mul(GWEI),
            gas_balance_alert_wei: env.or("GAS_BALANCE_ALERT_WEI", 1_000_000_000_000_000_000)?,
        };
        check_ceiling(&settings)?;
        let tls = TlsSettings::from_env(env)?;
        let rpc_url = env.or("RPC_URL", "http://127.0.0.1:8545".to_owned())?;
        tls.check_rpc_url(&rpc_url)
            .map_err(|e| e.for_variable("RPC_URL", posmul_core::rpc::origin(&rpc_url)))?;
        Ok(RelayerConfig {
            database_url: posmul_core::config::database_url(env),
            database_migrate: posmul_core::config::database_migrate(env)?,
            rpc_url,
            chain_id: env.optional("CHAIN_ID")?,
            deployments_dir: env.or("DEPLOYMENTS_DIR", PathBuf::from("deployments"))?,
            signer: signer_from_env(env)?,
            settings,
            metrics_addr: env.or("METRICS_ADDR", SocketAddr::from(([127, 0, 0, 1], 9102)))?,
            demo_day: env
                .optional::<u64>("DEMO_DAY_SECONDS")?
                .map(Duration::from_secs),
            tls,
        })
    }
}

/// The fee ceiling must leave room for the priority floor: a tip ceiling below the floor, or a
/// max-fee ceiling below the tip ceiling, could never send anything.
fn check_ceiling(s: &Settings) -> Result<(), ConfigError> {
    let gwei = |w: u128| (w / GWEI).to_string();
    if let Some(floor) = s.priority_fee_floor_wei
        && s.max_priority_fee_per_gas_wei < floor
    {
        return Err(ConfigError::Malformed {
            name: "MAX_PRIORITY_FEE_PER_GAS_GWEI".to_owned(),
            value: gwei(s.max_priority_fee_per_gas_wei),
            reason: format!("below PRIORITY_FEE_FLOOR_GWEI={}", gwei(floor)),
        });
    }
    if s.max_fee_per_gas_wei < s.max_priority_fee_per_gas_wei {
        return Err(ConfigError::Malformed {
            name: "MAX_FEE_PER_GAS_GWEI".to_owned(),
            value: gwei(s.max_fee_per_gas_wei),
            reason: format!(
                "below MAX_PRIORITY_FEE_PER_GAS_GWEI={}",
                gwei(s.max_priority_fee_per_gas_wei)
            ),
        });
    }
    Ok(())
}

/// The signer: `PRIVATE_KEY`, or `KEYSTORE_PATH` with its password in `KEYSTORE_PASSWORD_FILE`.
/// Errors name the variable, never the key.
pub fn signer_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<PrivateKeySigner, ConfigError> {
    key_from_env(env, "").and_then(|k| {
        k.ok_or_else(|| ConfigError::Missing {
            name: "PRIVATE_KEY".to_owned(),
            hint: "the relayer's signing key (hex), or KEYSTORE_PATH + KEYSTORE_PASSWORD_FILE",
        })
    })
}

/// The guardian's key for `posmul-relayer watch` (M6): `GUARDIAN_PRIVATE_KEY`, or
/// `GUARDIAN_KEYSTORE_PATH` with `GUARDIAN_KEYSTORE_PASSWORD_FILE`; `None` when neither is set
/// (the watcher then only alerts).
pub fn guardian_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<PrivateKeySigner>, ConfigError> {
    key_from_env(env, "GUARDIAN_")
}

/// `<prefix>PRIVATE_KEY`, or `<prefix>KEYSTORE_PATH` with `<prefix>KEYSTORE_PASSWORD_FILE`.
fn key_from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    prefix: &str,
) -> Result<Option<PrivateKeySigner>, ConfigError> {
    let key_var = format!("{prefix}PRIVATE_KEY");
    if let Some(key) = env.raw(&key_var).map(SecretString::from) {
        return key
            .expose_secret()
            .trim()
            .parse::<PrivateKeySigner>()
            .map(Some)
            .map_err(|_| ConfigError::Malformed {
                name: key_var,
                value: "<redacted>".to_owned(),
                reason: "not a 32-byte hex private key".to_owned(),
            });
    }
    let path_var = format!("{prefix}KEYSTORE_PATH");
    let Some(path) = env.raw(&path_var) else {
        return Ok(None);
    };
    let password_var = format!("{prefix}KEYSTORE_PASSWORD_FILE");
    let password_file: String =
        env.required(&password_var, "the file holding the keystore's password")?;
    let password = read_password_file(&password_var, &password_file)?;
    PrivateKeySigner::decrypt_keystore(
        &path,
        password.expose_secret().trim_end_matches(['\n', '\r']),
    )
    .map(Some)
    .map_err(|e| ConfigError::Malformed {
        name: path_var,
        value: path.clone(),
        reason: format!("cannot decrypt the keystore: {e}"),
    })
}

/// What `posmul-relayer watch` reads (M6): no relayer key.
pub struct WatchConfig {
    pub database_url: String,
    /// `DATABASE_MIGRATE`: false when the owner migrates and this runs as `posmul_relayer`.
    pub database_migrate: bool,
    pub rpc_url: String,
    pub chain_id: Option<u64>,
    pub deployments_dir: PathBuf,
    /// Where the relayer publishes the allocation files (`WAVE_EXPORT_DIR`).
    pub export_dir: PathBuf,
    pub guardian: Option<PrivateKeySigner>,
    pub poll_interval: Duration,
    pub metrics_addr: SocketAddr,
    pub tls: TlsSettings,
}

impl std::fmt::Debug for WatchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchConfig")
            .field("database_url", &posmul_core::db::redact(&self.database_url))
            .field("rpc_url", &posmul_core::rpc::origin(&self.rpc_url))
            .field("chain_id", &self.chain_id)
            .field("export_dir", &self.export_dir)
            .field("guardian", &self.guardian.as_ref().map(|g| g.address()))
            .field("poll_interval", &self.poll_interval)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl WatchConfig {
    /// Reads the watcher's configuration; `/metrics` on `WATCH_METRICS_ADDR`
    /// (default `127.0.0.1:9103`, beside the relayer's 9102).
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let tls = TlsSettings::from_env(env)?;
        let rpc_url = env.or("RPC_URL", "http://127.0.0.1:8545".to_owned())?;
        tls.check_rpc_url(&rpc_url)
            .map_err(|e| e.for_variable("RPC_URL", posmul_core::rpc::origin(&rpc_url)))?;
        Ok(WatchConfig {
            database_url: posmul_core::config::database_url(env),
            database_migrate: posmul_core::config::database_migrate(env)?,
            rpc_url,
            chain_id: env.optional("CHAIN_ID")?,
            deployments_dir: env.or("DEPLOYMENTS_DIR", PathBuf::from("deployments"))?,
            export_dir: env.or("WAVE_EXPORT_DIR", PathBuf::from("waves"))?,
            guardian: guardian_from_env(env)?,
            poll_interval: env.millis("POLL_INTERVAL_MS", 5000)?,
            metrics_addr: env.or(
                "WATCH_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9103)),
            )?,
            tls,
        })
    }
}

/// Reads the keystore's password, refusing a file its group or others may read.
fn read_password_file(variable: &str, path: &str) -> Result<SecretString, ConfigError> {
    let refuse = |reason: String| ConfigError::Malformed {
        name: variable.to_owned(),
        value: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!(
                "its group or others may read it (mode {mode:o}); chmod 600 it"
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .map_err(|e| refuse(format!("cannot read it: {e}")))
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

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn m6_the_guardian_key_is_optional_and_never_echoed() {
        assert!(
            guardian_from_env(&env(&[("PRIVATE_KEY", KEY)]))
                .expect("ok")
                .is_none()
        );
        let g = guardian_from_env(&env(&[("GUARDIAN_PRIVATE_KEY", KEY)]))
            .expect("ok")
            .expect("a guardian");
        assert_eq!(
            g.address(),
            KEY.parse::<PrivateKeySigner>().expect("key").address()
        );
        let err =
            guardian_from_env(&env(&[("GUARDIAN_PRIVATE_KEY", "0xdeadbeefsecret")])).unwrap_err();
        assert!(err.to_string().contains("GUARDIAN_PRIVATE_KEY"), "{err}");
        assert!(!err.to_string().contains("deadbeefsecret"), "{err}");
        let err =
            guardian_from_env(&env(&[("GUARDIAN_KEYSTORE_PATH", "/nonexistent")])).unwrap_err();
        assert!(
            err.to_string().contains("GUARDIAN_KEYSTORE_PASSWORD_FILE"),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_private_key_is_refused_without_echoing_it() {
        let err = signer_from_env(&env(&[("PRIVATE_KEY", "0xdeadbeefsecret")])).unwrap_err();
        assert!(!err.to_string().contains("deadbeefsecret"), "{err}");
    }

    #[test]
    fn the_signer_comes_from_a_key_or_a_keystore_with_a_password_file() {
        let from_key = signer_from_env(&env(&[("PRIVATE_KEY", KEY)])).expect("key");
        let dir = std::env::temp_dir().join(format!("posmul-keystore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (_, name) = PrivateKeySigner::encrypt_keystore(
            &dir,
            &mut rand_core(),
            from_key.credential().to_bytes(),
            "hunter2",
            None,
        )
        .expect("encrypt");
        let pw = dir.join("password");
        std::fs::write(&pw, "hunter2\n").expect("pw");
        set_mode(&pw, 0o600);
        let keystore = dir.join(name);
        let from_store = signer_from_env(&env(&[
            ("KEYSTORE_PATH", keystore.to_str().expect("utf8")),
            ("KEYSTORE_PASSWORD_FILE", pw.to_str().expect("utf8")),
        ]))
        .expect("keystore");
        assert_eq!(from_store.address(), from_key.address());
        assert!(signer_from_env(&env(&[])).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn set_mode(path: &std::path::Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_keystore_password_file_readable_by_group_or_others_is_refused() {
        let key: PrivateKeySigner = KEY.parse().expect("key");
        let dir = std::env::temp_dir().join(format!("posmul-pwmode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (_, name) = PrivateKeySigner::encrypt_keystore(
            &dir,
            &mut rand_core(),
            key.credential().to_bytes(),
            "hunter2",
            None,
        )
        .expect("encrypt");
        let pw = dir.join("password");
        std::fs::write(&pw, "hunter2\n").expect("pw");
        let keystore = dir.join(name);
        let vars = [
            ("KEYSTORE_PATH", keystore.to_str().expect("utf8")),
            ("KEYSTORE_PASSWORD_FILE", pw.to_str().expect("utf8")),
        ];
        for mode in [0o644, 0o640, 0o604, 0o660] {
            set_mode(&pw, mode);
            let err = signer_from_env(&env(&vars)).expect_err("a readable password file");
            let msg = err.to_string();
            assert!(
                msg.contains("KEYSTORE_PASSWORD_FILE") && msg.contains("chmod 600"),
                "{mode:o}: {msg}"
            );
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        for mode in [0o600, 0o400] {
            set_mode(&pw, mode);
            assert_eq!(
                signer_from_env(&env(&vars)).expect("owner only").address(),
                key.address(),
                "{mode:o}"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_fee_ceiling_has_documented_defaults_and_must_leave_room_for_the_floor() {
        let c = RelayerConfig::from_env(&env(&[("PRIVATE_KEY", KEY)])).expect("defaults");
        assert_eq!(c.settings.max_fee_per_gas_wei, 1000 * GWEI);
        assert_eq!(c.settings.max_priority_fee_per_gas_wei, 100 * GWEI);
        assert_eq!(c.settings.gas_balance_alert_wei, 10u128.pow(18));
        let set = RelayerConfig::from_env(&env(&[
            ("PRIVATE_KEY", KEY),
            ("MAX_FEE_PER_GAS_GWEI", "300"),
            ("MAX_PRIORITY_FEE_PER_GAS_GWEI", "40"),
            ("GAS_BALANCE_ALERT_WEI", "5"),
        ]))
        .expect("set");
        assert_eq!(
            (
                set.settings.max_fee_per_gas_wei,
                set.settings.max_priority_fee_per_gas_wei,
                set.settings.gas_balance_alert_wei
            ),
            (300 * GWEI, 40 * GWEI, 5)
        );
        for (vars, bad) in [
            (
                [
                    ("PRIORITY_FEE_FLOOR_GWEI", "25"),
                    ("MAX_PRIORITY_FEE_PER_GAS_GWEI", "10"),
                ],
                "MAX_PRIORITY_FEE_PER_GAS_GWEI",
            ),
            (
                [
                    ("MAX_FEE_PER_GAS_GWEI", "5"),
                    ("MAX_PRIORITY_FEE_PER_GAS_GWEI", "10"),
                ],
                "MAX_FEE_PER_GAS_GWEI",
            ),
        ] {
            let mut all = vec![("PRIVATE_KEY", KEY)];
            all.extend(vars);
            let err = RelayerConfig::from_env(&env(&all)).expect_err("refused");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    fn rand_core() -> impl alloy::signers::k256::elliptic_curve::rand_core::CryptoRngCore {
        alloy::signers::k256::elliptic_curve::rand_core::OsRng
    }

    #[test]
    fn polygon_chains_floor_the_priority_fee_at_25_gwei() {
        assert_eq!(default_priority_floor(137), 25_000_000_000);
        assert_eq!(default_priority_floor(80002), 25_000_000_000);
        assert_eq!(default_priority_floor(31337), 0);
    }

    #[test]
    fn in_prod_a_plaintext_rpc_url_off_the_host_is_refused() {
        let err = RelayerConfig::from_env(&env(&[
            ("PRIVATE_KEY", KEY),
            ("RPC_URL", "http://polygon-rpc.example.com/KEY"),
        ]))
        .expect_err("plaintext off the host");
        let msg = err.to_string();
        assert!(msg.contains("RPC_URL") && msg.contains("https://"), "{msg}");
        for ok in ["https://polygon-rpc.example.com", "http://127.0.0.1:8545"] {
            assert!(
                RelayerConfig::from_env(&env(&[("PRIVATE_KEY", KEY), ("RPC_URL", ok)])).is_ok(),
                "{ok}"
            );
        }
    }
}
