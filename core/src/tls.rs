//! TLS for every link that leaves the machine: the JSON-RPC node (`https://`, `wss://`),
//! PostgreSQL (`sslmode=` in `DATABASE_URL`) and Redis (`rediss://`).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TLS_CA_FILE` | unset | a PEM file of extra CA certificates to trust, on every link, next to the public roots |
//! | `POSMUL_ENV` | `prod` | `prod`: plaintext to a host that is not loopback is refused at start; `dev`: allowed |
//!
//! **Roots.** A certificate is trusted when it chains to Mozilla's root set (compiled in,
//! `webpki-roots`, so a container without a CA bundle works) or to a certificate of
//! `TLS_CA_FILE` (a private CA, a node provider's or a managed database's). Exceptions, from
//! the clients' own TLS set-up: a `DATABASE_URL` with `sslrootcert=` trusts that file instead
//! of `TLS_CA_FILE` (plus the public roots), and Redis trusts `TLS_CA_FILE` *instead of* the
//! public roots when it is set (the redis client takes one root set).
//!
//! **The plaintext rule** (the URL is checked when the configuration is read, and again when
//! the link is opened). With `POSMUL_ENV=prod`, a link to a host that is not loopback
//! (`localhost`, `127.0.0.0/8`, `::1`, or a Unix socket) must be encrypted:
//!
//! | link | refused | accepted |
//! |---|---|---|
//! | JSON-RPC (`RPC_URL`, `RPC_URLS`) | `http://`, `ws://` | `https://`, `wss://` |
//! | PostgreSQL (`DATABASE_URL`) | `sslmode=disable`, `allow`, `prefer` (the default: it falls back to plaintext) | `sslmode=require`, `verify-ca`, `verify-full` (recommended: `require` encrypts but checks no certificate) |
//! | Redis (`REDIS_URL`) | `redis://` | `rediss://` |
//!
//! Loopback stays allowed in `prod` (a local node, a sidecar proxy that terminates TLS, the
//! test set-ups); `POSMUL_ENV=dev` allows plaintext anywhere.

use std::{
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use rustls::{
    ClientConfig, RootCertStore,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, pem::PemObject},
};

use crate::config::{ConfigError, Env};

/// The variable naming the extra CA file.
pub const TLS_CA_FILE: &str = "TLS_CA_FILE";

/// Where the service runs, from `POSMUL_ENV`: it decides whether plaintext may leave the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// Production (the default): encrypted links off the host.
    #[default]
    Prod,
    /// Development: plaintext anywhere, the API's development JWT secret.
    Dev,
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "prod" => Ok(Environment::Prod),
            "dev" => Ok(Environment::Dev),
            _ => Err("expected prod or dev".to_owned()),
        }
    }
}

/// A TLS set-up that cannot be used, or a plaintext link the rule refuses.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The rule of the module: plaintext off the host outside `POSMUL_ENV=dev`.
    #[error(
        "{link} link to {host} is not encrypted ({what}); use {fix}, or POSMUL_ENV=dev to allow plaintext"
    )]
    Plaintext {
        link: &'static str,
        host: String,
        what: String,
        fix: &'static str,
    },
    /// The URL does not parse.
    #[error("{link} URL does not parse: {reason}")]
    BadUrl { link: &'static str, reason: String },
    /// The CA file cannot be read or holds no certificate.
    #[error("cannot use {path} as CA file: {reason}")]
    CaFile { path: PathBuf, reason: String },
}

impl TlsError {
    /// The configuration error for variable `name` holding `value` (give a value without
    /// secrets): a refusal of the rule, or a malformed value.
    pub fn for_variable(self, name: &str, value: String) -> ConfigError {
        let reason = self.to_string();
        match self {
            TlsError::Plaintext { .. } => ConfigError::Refused {
                name: name.to_owned(),
                value,
                reason,
            },
            _ => ConfigError::Malformed {
                name: name.to_owned(),
                value,
                reason,
            },
        }
    }
}

/// The TLS settings every service shares: the trusted roots and the plaintext rule. Cheap to
/// clone.
#[derive(Clone)]
pub struct TlsSettings {
    environment: Environment,
    ca_file: Option<PathBuf>,
    ca_pem: Option<Arc<[u8]>>,
    client: Arc<ClientConfig>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("environment", &self.environment)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl Default for TlsSettings {
    /// `prod`'s rule, the public roots only.
    fn default() -> Self {
        TlsSettings {
            environment: Environment::Prod,
            ca_file: None,
            ca_pem: None,
            client: client_config(&[]),
        }
    }
}

impl TlsSettings {
    /// `POSMUL_ENV` and `TLS_CA_FILE`; the CA file is read and parsed now, so a bad one stops
    /// the service at start.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let environment = env.or("POSMUL_ENV", Environment::Prod)?;
        let ca_file: Option<PathBuf> = env.optional(TLS_CA_FILE)?;
        TlsSettings::new(environment, ca_file.as_deref()).map_err(|e| ConfigError::Malformed {
            name: TLS_CA_FILE.to_owned(),
            value: ca_file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason: e.to_string(),
        })
    }

    /// Settings with an optional extra CA file (PEM, one or more certificates).
    pub fn new(environment: Environment, ca_file: Option<&Path>) -> Result<Self, TlsError> {
        let Some(path) = ca_file else {
            return Ok(TlsSettings {
                environment,
                ..TlsSettings::default()
            });
        };
        let fail = |reason: String| TlsError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(format!("not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(fail("no CERTIFICATE block in it".to_owned()));
        }
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots.add_parsable_certificates(certs.iter().cloned());
        if ignored > 0 {
            return Err(fail(format!("{ignored} certificate(s) cannot be parsed")));
        }
        Ok(TlsSettings {
            environment,
            ca_file: Some(path.to_owned()),
            ca_pem: Some(pem.into()),
            client: client_config(&certs),
        })
    }

    /// `POSMUL_ENV`.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// `TLS_CA_FILE`, when set.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The extra CA certificates as PEM (the content of `TLS_CA_FILE`), when set.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    /// The rustls client configuration: the public roots plus `TLS_CA_FILE`, no ALPN (HTTP/1.1
    /// and WebSocket share it).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    fn refuse(
        &self,
        link: &'static str,
        host: &str,
        what: String,
        fix: &'static str,
    ) -> Result<(), TlsError> {
        if self.environment == Environment::Dev || is_loopback(host) {
            return Ok(());
        }
        Err(TlsError::Plaintext {
            link,
            host: host.to_owned(),
            what,
            fix,
        })
    }

    /// The rule for a JSON-RPC URL (`http`, `https`, `ws`, `wss`).
    pub fn check_rpc_url(&self, url: &str) -> Result<(), TlsError> {
        let (scheme, host) = scheme_and_host("JSON-RPC", url)?;
        match scheme.as_str() {
            "https" | "wss" => Ok(()),
            "http" | "ws" => self.refuse(
                "JSON-RPC",
                &host,
                format!("{scheme}://"),
                "an https:// or wss:// URL",
            ),
            other => Err(TlsError::BadUrl {
                link: "JSON-RPC",
                reason: format!("scheme {other}:// (expected http(s):// or ws(s)://)"),
            }),
        }
    }

    /// The rule for an OTLP/HTTP collector URL (`http`, `https`): traces carry request ids
    /// and user ids.
    pub fn check_otlp_url(&self, url: &str) -> Result<(), TlsError> {
        let (scheme, host) = scheme_and_host("OTLP collector", url)?;
        match scheme.as_str() {
            "https" => Ok(()),
            "http" => self.refuse(
                "OTLP collector",
                &host,
                "http://".to_owned(),
                "an https:// URL",
            ),
            other => Err(TlsError::BadUrl {
                link: "OTLP collector",
                reason: format!("scheme {other}:// (expected http(s)://)"),
            }),
        }
    }

    /// The rule for a Redis URL (`redis`, `rediss`, `redis+unix`, `unix`).
    pub fn check_redis_url(&self, url: &str) -> Result<(), TlsError> {
        let (scheme, host) = scheme_and_host("Redis", url)?;
        match scheme.as_str() {
            "rediss" | "unix" | "redis+unix" => Ok(()),
            "redis" => self.refuse("Redis", &host, "redis://".to_owned(), "a rediss:// URL"),
            other => Err(TlsError::BadUrl {
                link: "Redis",
                reason: format!("scheme {other}:// (expected redis:// or rediss://)"),
            }),
        }
    }

    /// The rule for a PostgreSQL connection: a TCP host off the machine needs an `sslmode`
    /// that cannot fall back to plaintext.
    pub fn check_database(
        &self,
        options: &sqlx::postgres::PgConnectOptions,
    ) -> Result<(), TlsError> {
        use sqlx::postgres::PgSslMode;
        if options.get_socket().is_some() || options.get_host().starts_with('/') {
            return Ok(());
        }
        let mode = options.get_ssl_mode();
        let name = match mode {
            PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => return Ok(()),
            PgSslMode::Disable => "disable",
            PgSslMode::Allow => "allow",
            PgSslMode::Prefer => "prefer",
        };
        self.refuse(
            "PostgreSQL",
            options.get_host(),
            format!("sslmode={name}"),
            "sslmode=verify-full (or require) in DATABASE_URL",
        )
    }
}

/// The rustls client configuration over Mozilla's roots and `extra`.
fn client_config(extra: &[CertificateDer<'static>]) -> Arc<ClientConfig> {
    // aws-lc-rs, the provider the stack already builds, made the process default: the redis
    // client builds its own configuration from the default provider. One already installed
    // stays.
    let _ = CryptoProvider::install_default(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots.add_parsable_certificates(extra.iter().cloned());
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The scheme (lower case) and host of a URL.
fn scheme_and_host(link: &'static str, url: &str) -> Result<(String, String), TlsError> {
    let parsed =
        alloy::transports::http::reqwest::Url::parse(url).map_err(|e| TlsError::BadUrl {
            link,
            reason: e.to_string(),
        })?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    Ok((parsed.scheme().to_owned(), host))
}

/// `localhost`, a loopback address, or no host (a Unix socket).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.is_empty()
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::PgConnectOptions;

    fn prod() -> TlsSettings {
        TlsSettings::default()
    }

    fn dev() -> TlsSettings {
        TlsSettings::new(Environment::Dev, None).unwrap()
    }

    #[test]
    fn in_prod_plaintext_rpc_off_the_host_is_refused_with_the_fix() {
        let err = prod()
            .check_rpc_url("http://rpc.example.com:8545")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("rpc.example.com"), "{msg}");
        assert!(msg.contains("https:// or wss://"), "{msg}");
        assert!(prod().check_rpc_url("ws://10.0.0.5:8546").is_err());
        assert!(prod().check_rpc_url("https://rpc.example.com").is_ok());
        assert!(prod().check_rpc_url("wss://rpc.example.com").is_ok());
    }

    #[test]
    fn loopback_and_dev_may_stay_plaintext() {
        for url in [
            "http://127.0.0.1:8545",
            "ws://localhost:8546",
            "http://[::1]:8545",
            "http://127.1.2.3",
        ] {
            assert!(prod().check_rpc_url(url).is_ok(), "{url}");
        }
        assert!(dev().check_rpc_url("http://rpc.example.com").is_ok());
        assert!(dev().check_redis_url("redis://cache.internal").is_ok());
    }

    #[test]
    fn the_rpc_url_must_be_http_or_ws() {
        assert!(matches!(
            prod().check_rpc_url("ftp://example.com"),
            Err(TlsError::BadUrl { .. })
        ));
        assert!(matches!(
            prod().check_rpc_url("not a url"),
            Err(TlsError::BadUrl { .. })
        ));
    }

    #[test]
    fn in_prod_redis_off_the_host_needs_rediss() {
        assert!(
            prod()
                .check_redis_url("redis://cache.internal:6379")
                .is_err()
        );
        assert!(
            prod()
                .check_redis_url("rediss://cache.internal:6379")
                .is_ok()
        );
        assert!(prod().check_redis_url("redis://127.0.0.1:6379").is_ok());
    }

    #[test]
    fn in_prod_postgres_off_the_host_needs_an_sslmode_that_cannot_fall_back() {
        let opts = |url: &str| url.parse::<PgConnectOptions>().unwrap();
        for mode in ["disable", "allow", "prefer"] {
            let url = format!("postgres://u@db.example.com/posmul?sslmode={mode}");
            let err = prod().check_database(&opts(&url)).unwrap_err();
            assert!(
                err.to_string().contains(&format!("sslmode={mode}")),
                "{err}"
            );
        }
        // No sslmode at all is `prefer`.
        assert!(
            prod()
                .check_database(&opts("postgres://u@db.example.com/posmul"))
                .is_err()
        );
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://u@db.example.com/posmul?sslmode={mode}");
            assert!(prod().check_database(&opts(&url)).is_ok(), "{mode}");
        }
        assert!(
            prod()
                .check_database(&opts("postgres://u@127.0.0.1/posmul?sslmode=disable"))
                .is_ok()
        );
        assert!(
            prod()
                .check_database(&opts("postgres://u@%2Fvar%2Frun%2Fpostgresql/posmul"))
                .is_ok()
        );
    }

    #[test]
    fn posmul_env_is_prod_unless_dev_and_nothing_else() {
        assert_eq!("dev".parse::<Environment>(), Ok(Environment::Dev));
        assert_eq!("PROD".parse::<Environment>(), Ok(Environment::Prod));
        assert!("staging".parse::<Environment>().is_err());
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_naming_it() {
        let path = std::env::temp_dir().join(format!("posmul-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = TlsSettings::new(Environment::Prod, Some(&path)).unwrap_err();
        assert!(err.to_string().contains("posmul-ca-"), "{err}");
        let missing = TlsSettings::new(Environment::Prod, Some(Path::new("/nonexistent/ca.pem")));
        assert!(missing.is_err());
        let _ = std::fs::remove_file(path);
    }
}
