//! The PostgreSQL pool and the embedded migrations.
//!
//! All services share one database with a schema per domain (`chain`, `ledger`, …). The
//! migrations under `migrations/` are compiled into every binary, so a service can bring an
//! empty database up to date on start.
//!
//! TLS: `DATABASE_URL` takes libpq's `sslmode` (`disable`, `allow`, `prefer` the default,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert=<PEM file>`; without `sslrootcert`
//! the server's certificate must chain to the public roots or to `TLS_CA_FILE`. Outside
//! `POSMUL_ENV=dev`, a server off the host needs `require` or stronger ([`crate::tls`]).

use std::time::Duration;

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::tls::{TlsError, TlsSettings};

/// The ordered migrations of the whole system.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Database failures at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The server could not be reached or refused the connection.
    #[error(
        "cannot connect to PostgreSQL at {url}: {source}; is it running? (script/dev starts one)"
    )]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// `DATABASE_URL` does not parse.
    #[error("DATABASE_URL {url} is malformed: {source}")]
    Url {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// `DATABASE_URL` would send plaintext off the host (see [`crate::tls`]).
    #[error("DATABASE_URL is refused: {0}")]
    Insecure(TlsError),
    /// A migration failed; the database is left at the last successful one.
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The connection options of `url`: checked against the plaintext rule, and trusting
/// `TLS_CA_FILE` unless the URL names its own `sslrootcert`.
pub fn connect_options(url: &str, tls: &TlsSettings) -> Result<PgConnectOptions, DbError> {
    let mut options: PgConnectOptions = url.parse().map_err(|source| DbError::Url {
        url: redact(url),
        source,
    })?;
    tls.check_database(&options).map_err(DbError::Insecure)?;
    if let Some(pem) = tls.ca_pem()
        && !names_root_cert(url)
    {
        options = options.ssl_root_cert_from_pem(pem.to_vec());
    }
    Ok(options)
}

fn names_root_cert(url: &str) -> bool {
    alloy::transports::http::reqwest::Url::parse(url).is_ok_and(|u| {
        u.query_pairs()
            .any(|(k, _)| matches!(&*k, "sslrootcert" | "ssl-root-cert" | "ssl-ca"))
    })
}

/// Opens a pool of at most `max_connections` over `tls`.
pub async fn connect(
    url: &str,
    max_connections: u32,
    tls: &TlsSettings,
) -> Result<PgPool, DbError> {
    let options = connect_options(url, tls)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect {
            url: redact(url),
            source,
        })
}

/// Opens a pool and applies every pending migration.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
    tls: &TlsSettings,
) -> Result<PgPool, DbError> {
    let pool = connect(url, max_connections, tls).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
